// The attach form, enhanced: several files at once (picker or drag and drop), a title and a
// progress bar per file, and each file's own answer. One request per file, one at a time: each
// file gets the whole size limit, and each answer's session cookie (its "sent" message) is
// kept before the next request starts. Every word shown comes from the page (translated there).
// Without this script the form posts all files at once and the server lists the outcomes.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-upload-many]");
  var rowTemplate = document.getElementById("upload-row");
  if (!form || !rowTemplate || !window.XMLHttpRequest || !window.FormData) return;
  var input = form.querySelector("input[type=file]");
  var zone = document.getElementById("drop-zone");
  var list = document.getElementById("upload-list");
  var summary = document.getElementById("upload-summary");
  var titleField = document.getElementById("title-field");
  var mainTitle = titleField.querySelector("input");
  var tooLargeMessage = document.getElementById("file-too-large");
  var roundRequired = document.getElementById("round-required");
  var submit = form.querySelector("button[type=submit]");
  var done = document.getElementById("upload-done");
  var cancel = document.getElementById("upload-cancel");
  var max = parseInt(form.getAttribute("data-max-bytes"), 10);
  var words = form.dataset;
  var items = []; // {file, row, title, progress, result, state}
  var busy = false;

  input.multiple = true;
  zone.querySelector(".drop-hint").hidden = false;

  function size(bytes) {
    return bytes >= 1048576
      ? (bytes / 1048576).toFixed(1) + " MB"
      : (bytes / 1024).toFixed(1) + " KB";
  }

  function stem(name) {
    var dot = name.lastIndexOf(".");
    return (dot > 0 ? name.slice(0, dot) : name).replace(/\s+/g, " ").trim();
  }

  function show(item, state, text) {
    item.state = state;
    item.row.classList.remove("waiting", "sending", "accepted", "refused", "too-large");
    item.row.classList.add(state);
    item.result.textContent = text;
  }

  function refresh() {
    var large = items.some(function (item) { return item.state === "too-large"; });
    tooLargeMessage.hidden = !large;
    input.setAttribute("aria-invalid", large ? "true" : "false");
    list.hidden = items.length === 0;
    // The typed title moves into the first file's row; one title box per file from here on.
    titleField.hidden = items.length > 0;
  }

  function choose(files) {
    if (busy) return;
    items = [];
    list.textContent = "";
    summary.textContent = "";
    done.hidden = true;
    cancel.hidden = false;
    Array.prototype.forEach.call(files, function (file, index) {
      var row = rowTemplate.content.firstElementChild.cloneNode(true);
      var item = {
        file: file,
        row: row,
        title: row.querySelector("input"),
        progress: row.querySelector("progress"),
        result: row.querySelector(".upload-result"),
      };
      var id = "upload-file-" + index;
      row.querySelector(".upload-file").textContent = file.name;
      row.querySelector(".upload-file").id = id;
      row.querySelector(".upload-for").textContent = file.name;
      row.querySelector(".upload-size").textContent = size(file.size);
      item.progress.setAttribute("aria-labelledby", id);
      item.title.value = index === 0 && mainTitle.value.trim() ? mainTitle.value : stem(file.name);
      if (index === 0) {
        item.title.addEventListener("input", function () { mainTitle.value = item.title.value; });
      }
      row.querySelector(".upload-remove").setAttribute("aria-describedby", id);
      row.querySelector(".upload-remove").addEventListener("click", function () {
        if (busy) return;
        items.splice(items.indexOf(item), 1);
        row.remove();
        refresh();
        input.focus();
      });
      if (file.size > max) show(item, "too-large", words.msgTooLarge);
      else show(item, "waiting", words.msgWaiting);
      items.push(item);
      list.appendChild(row);
    });
    refresh();
  }

  input.addEventListener("change", function () { choose(input.files); });

  // The whole form takes a drop (the zone lights up); a file let go beside it must not make
  // the browser leave the page to show the file, losing what was typed.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (event) { event.preventDefault(); });
  });
  ["dragenter", "dragover"].forEach(function (type) {
    form.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    form.addEventListener(type, function () { zone.classList.remove("dragging"); });
  });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    try {
      input.files = event.dataTransfer.files; // the picker then names what was dropped
    } catch (error) {
      // Older browsers cannot set it; the list below is what gets sent.
    }
    choose(event.dataTransfer.files);
  });

  function answer(xhr) {
    if ((xhr.getResponseHeader("Content-Type") || "").indexOf("application/json") === 0) {
      try {
        return JSON.parse(xhr.responseText);
      } catch (error) {
        return null;
      }
    }
    return null;
  }

  function upload(item, round, token) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append("csrf_token", token);
      data.append("round_months", round);
      data.append("title", item.title.value);
      data.append("file", item.file, item.file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          item.progress.max = event.total;
          item.progress.value = event.loaded;
        }
      });
      xhr.addEventListener("load", function () {
        var body = answer(xhr);
        if (body && body.accepted && body.accepted.length) {
          item.progress.value = item.progress.max;
          item.title.value = body.accepted[0].title;
          show(item, "accepted", body.accepted[0].message);
        } else if (body && body.refused && body.refused.length) {
          show(item, "refused", words.msgRefused + ": " + body.refused[0].reason);
        } else if (xhr.status === 413) {
          show(item, "refused", words.msgRefused + ": " + words.msgTooLarge);
        } else {
          show(item, "refused", words.msgRefused + ": " + words.msgFailed);
        }
        resolve();
      });
      ["error", "timeout", "abort"].forEach(function (type) {
        xhr.addEventListener(type, function () {
          show(item, "refused", words.msgRefused + ": " + words.msgOffline);
          resolve();
        });
      });
      show(item, "sending", words.msgSending);
      xhr.send(data);
    });
  }

  form.addEventListener("submit", function (event) {
    if (items.length === 0) return; // nothing chosen: the plain post names the problem
    event.preventDefault();
    if (busy) return;
    var round = form.querySelector("input[name=round_months]:checked");
    roundRequired.hidden = !!round;
    if (!round) {
      var first = form.querySelector("input[name=round_months]");
      if (first) first.focus();
      return;
    }
    var waiting = items.filter(function (item) { return item.state === "waiting"; });
    if (waiting.length === 0) {
      input.focus(); // only over-size (or already sent) files: nothing to send
      return;
    }
    var token = form.querySelector("input[name=csrf_token]").value;
    busy = true;
    submit.disabled = true;
    input.disabled = true;
    items.forEach(function (item) {
      item.title.readOnly = true;
      item.row.querySelector(".upload-remove").hidden = true;
    });
    waiting
      .reduce(function (previous, item) {
        return previous.then(function () { return upload(item, round.value, token); });
      }, Promise.resolve())
      .then(function () {
        busy = false;
        submit.disabled = false;
        input.disabled = false;
        var sent = items.filter(function (item) { return item.state === "accepted"; }).length;
        var refused = items.length - sent;
        if (refused === 0) {
          // As after the plain form: on to the list, where the "sent" message waits.
          window.location.assign(words.doneUrl);
          return;
        }
        summary.textContent = words.msgSummary
          .replace("{sent}", String(sent))
          .replace("{refused}", String(refused));
        done.hidden = false;
        cancel.hidden = true;
        input.value = "";
      });
  });
});
