/* Quick exit, as GOV.UK's "Exit this page" does it: the button, or Shift pressed three times
   within five seconds (a single key is too easy to press by accident while typing). The page
   is hidden at once and this tab goes, replacing its history entry, through /return/exit,
   which ends her session on the server, clears the site's cookies and storage, and leaves for
   a neutral site. Without JavaScript the button is a plain link to the same endpoint. */
(function () {
  "use strict";
  var SHIFT_PRESSES = 3, WINDOW_MS = 5000;
  var presses = 0, timer = null;

  function leave(event) {
    var link = document.getElementById("quick-exit");
    if (!link) { return; }
    if (event) { event.preventDefault(); }
    // Her codename may still be in the clipboard (the card's Copy): empty it, if the browser
    // lets this page (it may refuse; nothing waits for it).
    if (navigator.clipboard && navigator.clipboard.writeText) {
      try { navigator.clipboard.writeText("").catch(function () {}); } catch (e) { /* refused */ }
    }
    document.documentElement.className += " exiting";
    document.body.hidden = true;
    window.location.replace(link.getAttribute("href"));
  }

  function onKey(event) {
    if (event.key !== "Shift" || event.repeat) { return; }
    presses += 1;
    if (timer) { window.clearTimeout(timer); }
    timer = window.setTimeout(function () { presses = 0; }, WINDOW_MS);
    if (presses >= SHIFT_PRESSES) { presses = 0; leave(event); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var link = document.getElementById("quick-exit");
    if (link) { link.addEventListener("click", leave); }
    // The key hint only where there is a keyboard (no hint on a touch screen).
    var hint = document.querySelector(".quick-exit-hint");
    if (hint && window.matchMedia && window.matchMedia("(pointer: fine)").matches) {
      hint.hidden = false;
    }
    Array.prototype.forEach.call(document.querySelectorAll(".js-only"), function (el) {
      el.hidden = false;
    });
    // A language chosen on a page where she types: her form goes with it (to come back in
    // that language, nothing sent), instead of the plain link that would lose it.
    var languages = document.querySelector("nav.languages[data-lang-form]");
    var typed = languages && document.getElementById(languages.getAttribute("data-lang-form"));
    if (typed) {
      languages.addEventListener("click", function (event) {
        var link = event.target.closest ? event.target.closest("a[hreflang]") : null;
        if (!link) { return; }
        event.preventDefault();
        var field = document.createElement("input");
        field.type = "hidden";
        field.name = "switch_lang";
        field.value = link.getAttribute("hreflang");
        typed.appendChild(field);
        typed.submit();
      });
    }
    // What she must see after she acted (a problem with her answers, something to check)
    // is below the quick exit, the languages and the 999 box: on a phone, off the first
    // screen. Focus brings it into view and to a screen reader.
    var first = document.querySelector("#error-summary, [data-focus]");
    if (first) { first.focus(); }
    var hintPrint = document.querySelector(".print-hint");
    if (hintPrint) { hintPrint.hidden = true; }
    var print = document.querySelector(".print-card");
    if (print) { print.addEventListener("click", function () { window.print(); }); }
    var copy = document.querySelector(".copy-card");
    if (copy) {
      if (!navigator.clipboard) { copy.hidden = true; }
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(copy.getAttribute("data-copy") || "").then(function () {
          copy.textContent = copy.getAttribute("data-copied") || copy.textContent;
        }, function () {});
      });
    }
  });
  document.addEventListener("keydown", onKey);
  // A page restored from the back-forward cache is asked for again, so that the server
  // decides what it may show (after the exit: nothing of her case).
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { window.location.reload(); }
  });
})();
