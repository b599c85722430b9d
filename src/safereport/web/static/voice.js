/* Her recorded answer (issue 18), as a progressive enhancement of the report form's
   "voice" file field. Where the browser can record (MediaRecorder, and a file field that
   takes a made file), a "Record my answer" button appears; the recording is put into the
   file field, so the form is sent exactly as without JavaScript. Nothing is sent anywhere
   until she presses the form's own button; nothing is stored in the browser. */
(function () {
  "use strict";

  function canRecord() {
    return !!(window.MediaRecorder && window.DataTransfer && window.File &&
              navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function extension(type) {
    if (type.indexOf("ogg") !== -1) { return "ogg"; }
    if (type.indexOf("mp4") !== -1) { return "m4a"; }
    return "webm";
  }

  function setUp(box) {
    var input = document.getElementById("f-voice");
    var start = box.querySelector(".rec-start");
    var stop = box.querySelector(".rec-stop");
    var status = box.querySelector(".rec-status");
    var recorder = null, chunks = [], stream = null;
    if (!input || !start || !stop || !status) { return; }
    box.hidden = false;

    start.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (got) {
        stream = got;
        chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.addEventListener("dataavailable", function (event) {
          if (event.data && event.data.size) { chunks.push(event.data); }
        });
        recorder.addEventListener("stop", function () {
          var type = recorder.mimeType || "audio/webm";
          var file = new File(chunks, "recording." + extension(type), { type: type });
          var transfer = new DataTransfer();
          transfer.items.add(file);
          input.files = transfer.files;
          chunks = [];
          if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
          status.textContent = status.getAttribute("data-done");
          start.hidden = false;
          stop.hidden = true;
        });
        recorder.start();
        status.textContent = status.getAttribute("data-recording");
        start.hidden = true;
        stop.hidden = false;
        stop.focus();
      }).catch(function () {
        status.textContent = status.getAttribute("data-denied");
      });
    });

    stop.addEventListener("click", function () {
      if (recorder && recorder.state !== "inactive") { recorder.stop(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!canRecord()) { return; }
    Array.prototype.forEach.call(document.querySelectorAll(".recorder"), setUp);
  });
}());
