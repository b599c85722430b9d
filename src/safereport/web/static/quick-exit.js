/* Quick exit: the button and the Esc key leave for a neutral site, replacing this page in
   the history where the browser allows it. Without JavaScript the button is a plain link. */
(function () {
  "use strict";
  function leave(event) {
    var link = document.getElementById("quick-exit");
    if (!link) { return; }
    if (event) { event.preventDefault(); }
    document.body.hidden = true;
    try { history.replaceState(null, "", "/"); } catch (e) { /* not allowed: carry on */ }
    window.location.replace(link.getAttribute("data-exit-url") || link.href);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var link = document.getElementById("quick-exit");
    if (link) { link.addEventListener("click", leave); }
    var hint = document.querySelector(".quick-exit-hint");
    if (hint) { hint.hidden = false; }
    var print = document.querySelector(".print-card");
    if (print) {
      print.hidden = false;
      print.addEventListener("click", function () { window.print(); });
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" || event.key === "Esc") { leave(event); }
  });
})();
