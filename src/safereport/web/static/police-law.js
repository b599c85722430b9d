/* What her police force said, without sending her report (issue 15). The "Show what this
 * force said" button on the report form would otherwise send the whole form back (that is the
 * way without JavaScript, and files she chose would have to be chosen again). Here it fetches
 * only the answer for the chosen force from this server and puts it in the page: nothing of
 * her report is sent, nothing is kept, and no page is added to the history. */
(function () {
  "use strict";
  if (!window.fetch) { return; }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-police-show]") : null;
    if (!button) { return; }
    var form = button.form, focused = document.activeElement;
    if (form && focused && focused !== button && focused.form === form &&
        focused.tagName === "INPUT" && focused.type !== "submit") {
      // Enter in a field of the report form: the browser "clicks" the first submit input of
      // the form, which is this one. She meant the form's own button (what it always did).
      var send = form.querySelector("button[type=submit]");
      if (send) { event.preventDefault(); form.requestSubmit ? form.requestSubmit(send) : send.click(); }
      return;
    }
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
