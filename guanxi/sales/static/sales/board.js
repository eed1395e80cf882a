// Kanban board: SortableJS moves cards between columns (mouse and touch); each drop
// posts the move, and the server answers with the new column totals (swapped by id).
(function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function showError(text) {
    var box = document.getElementById("pl-move-error");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
  }

  function swapById(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    holder.content.querySelectorAll("[id]").forEach(function (fresh) {
      var old = document.getElementById(fresh.id);
      if (old) {
        fresh.removeAttribute("hx-swap-oob");
        old.replaceWith(fresh);
      }
    });
  }

  function putBack(evt) {
    var ref = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(evt.item, ref);
  }

  function askLostReason() {
    var dialog = document.getElementById("lost-dialog");
    return new Promise(function (resolve) {
      if (!dialog || !dialog.showModal) { resolve(null); return; }
      var form = dialog.querySelector("form");
      form.reset();
      dialog.onclose = function () {
        if (dialog.returnValue !== "ok") { resolve(null); return; }
        resolve({ lost_reason: form.lost_reason.value, note: form.note.value });
      };
      dialog.showModal();
    });
  }

  function move(evt, extra) {
    var board = document.getElementById("board");
    var body = new URLSearchParams(board.dataset.filterQuery || "");
    body.set("stage", evt.to.dataset.stage);
    Object.keys(extra || {}).forEach(function (k) { body.set(k, extra[k]); });
    evt.item.classList.add("pl-saving");
    return fetch(evt.item.dataset.moveUrl, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrf(), "HX-Request": "true" },
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (text) {
        evt.item.classList.remove("pl-saving");
        if (!response.ok) {
          putBack(evt);
          showError(response.status === 422 ? text : (board.dataset.errorPrefix || "Error") + " " + response.status);
          return;
        }
        document.getElementById("pl-move-error").hidden = true;
        swapById(text);
      });
    }).catch(function () {
      evt.item.classList.remove("pl-saving");
      putBack(evt);
      showError(board.dataset.errorNetwork || "Network error");
    });
  }

  function init() {
    var board = document.getElementById("board");
    if (!board || !window.Sortable || board.dataset.canMove !== "1") { return; }
    board.querySelectorAll(".pl-cards").forEach(function (list) {
      Sortable.create(list, {
        group: "pipeline",
        draggable: ".pl-card",
        filter: ".pl-more",
        animation: 150,
        delay: 200,
        delayOnTouchOnly: true,
        touchStartThreshold: 5,
        ghostClass: "pl-ghost",
        onEnd: function (evt) {
          if (evt.from === evt.to) { return; }
          // Keep "More" buttons last.
          var more = evt.to.querySelector(".pl-more");
          if (more) { evt.to.appendChild(more); }
          if (evt.to.dataset.kind === "lost") {
            askLostReason().then(function (answer) {
              if (!answer || !answer.lost_reason) { putBack(evt); return; }
              move(evt, answer);
            });
          } else {
            move(evt, {});
          }
        },
      });
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
