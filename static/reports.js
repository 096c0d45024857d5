// Small progressive enhancements; every page also works without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  // Ask before destructive actions (delete, deactivate).
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
  // Refuse an over-size file before uploading it: at a deadline, on slow office links,
  // waiting minutes to learn the file was too big is the worst outcome.
  // (The attach form's upload.js checks every chosen file itself.)
  var limited = document.querySelectorAll("form[data-max-bytes]:not([data-upload-many])");
  limited.forEach(function (form) {
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    var input = form.querySelector("input[type=file]");
    var message = document.getElementById("file-too-large");
    if (!input || !message) return;
    function tooLarge() {
      return input.files.length > 0 && input.files[0].size > max;
    }
    input.addEventListener("change", function () {
      message.hidden = !tooLarge();
      input.setAttribute("aria-invalid", tooLarge() ? "true" : "false");
    });
    form.addEventListener("submit", function (event) {
      if (tooLarge()) {
        event.preventDefault();
        message.hidden = false;
        input.focus();
      }
    });
  });
});
