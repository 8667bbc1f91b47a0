// ringbreaker serve: rows of a table whose first link is the row's page open it on click.
// Served from this origin only (the CSP forbids inline script); no network calls of its own.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.list tbody tr").forEach(function (row) {
    var link = row.querySelector("a[href]");
    if (!link) { return; }
    row.setAttribute("data-href", link.getAttribute("href"));
    row.addEventListener("click", function (e) {
      if (e.target.closest("a, summary, button, input")) { return; }
      window.location.href = row.getAttribute("data-href");
    });
  });
});
