/* Proof-of-work for the public forms (issue 19), compatible with ALTCHA's v1 challenges.
 *
 * On each form with a hidden "altcha" field: fetch a challenge from this server
 * (/forms/challenge), find the number n for which SHA-256(salt + n) is the challenge, and put
 * the solution (base64 JSON) in the field. If she presses the button before it is found, the
 * form says it is sending (a status message), waits for it, then sends. Nothing is loaded
 * from anywhere else; without this script, or where it cannot run, the form still works (the
 * server then asks for a short wait instead).
 */
(function () {
  "use strict";
  var subtle = window.crypto && window.crypto.subtle;
  if (!subtle || !window.fetch || !window.TextEncoder || !window.Promise) { return; }
  var encoder = new TextEncoder();
  var BATCH = 500;

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i++) { out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return out;
  }

  function search(c, from, started) {
    var last = Math.min(from + BATCH - 1, c.maxnumber), tries = [];
    for (var n = from; n <= last; n++) { tries.push(subtle.digest("SHA-256", encoder.encode(c.salt + n))); }
    return Promise.all(tries).then(function (hashes) {
      for (var i = 0; i < hashes.length; i++) {
        if (hex(hashes[i]) === c.challenge) {
          return btoa(JSON.stringify({algorithm: c.algorithm, challenge: c.challenge,
            number: from + i, salt: c.salt, signature: c.signature, took: Date.now() - started}));
        }
      }
      return last >= c.maxnumber ? null : search(c, last + 1, started);
    });
  }

  function solve() {
    return fetch("/forms/challenge", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error("no challenge"); } return r.json(); })
      .then(function (c) { return search(c, 0, Date.now()); })
      .catch(function () { return null; });
  }

  function guard(field) {
    var form = field.form, sending = false;
    if (!form) { return; }
    var solved = solve().then(function (payload) { if (payload) { field.value = payload; } });
    form.addEventListener("submit", function (event) {
      if (sending || field.value) { return; }
      event.preventDefault();
      sending = true;
      var button = event.submitter || form.querySelector("button[type=submit]");
      var status = form.querySelector(".pow-wait");
      if (button) { button.setAttribute("aria-busy", "true"); }
      if (status) { status.hidden = false; }
      var submitter = event.submitter;
      solved.then(function () {
        // In a task of its own: when the challenge has already failed (a 429 under attack),
        // this runs as a microtask while the browser is still firing this submit event, and
        // a submission asked for then is silently dropped, leaving her at "Sending" forever.
        setTimeout(function () {
          if (button) { button.removeAttribute("aria-busy"); }
          if (form.requestSubmit) { form.requestSubmit(submitter || undefined); } else { form.submit(); }
        }, 0);
      });
    });
  }

  var fields = document.querySelectorAll("form input[type=hidden][name=altcha]");
  for (var i = 0; i < fields.length; i++) { guard(fields[i]); }
})();
