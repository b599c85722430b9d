/* What her police force said, without sending her report (issue 15). The "Show what this
 * force said" button on the report form would otherwise send the whole form back (that is the
 * way without JavaScript, and files she chose would have to be chosen again). Here it fetches
 * only the answer for the chosen force from this server and puts it in the page: nothing of
 * her report is sent, nothing is kept, and no page is added to the history. */
(function () {
  "use strict";
  if (!window.fetch) { return; }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-police-show]") : null;
    if (!button) { return; }
    var box = button.closest(".police-law");
    var select = box && box.querySelector("select[name=force]");
    var slot = box && box.querySelector(".force-said-slot");
    if (!select || !slot) { return; }
    event.preventDefault();
    if (!select.value) { slot.innerHTML = ""; select.focus(); return; }
    var url = button.getAttribute("data-police-show") + "&force=" + encodeURIComponent(select.value);
    fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error("no answer"); } return r.text(); })
      .then(function (html) {
        slot.innerHTML = html;
        var said = slot.querySelector(".force-said");
        if (said) { said.focus(); }
      })
      .catch(function () { if (button.form) { button.form.requestSubmit ? button.form.requestSubmit(button) : button.form.submit(); } });
  });
})();
