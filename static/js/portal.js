// Small behaviours for htmx swaps, kept out of the templates so that the Content Security
// Policy can forbid inline script.
(function () {
  "use strict";

  // After a swap, move focus to the first field with an error, or to the element that asked
  // for it (data-focus-after-swap), so that keyboard and screen-reader users follow along.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    // An outerHTML swap replaces the target itself: look in its replacement.
    if (target && !target.isConnected && target.id) target = document.getElementById(target.id);
    if (!target) return;
    var invalid = target.querySelector(".field--error input, .field--error select, .field--error textarea");
    var wanted = invalid || target.querySelector("[data-focus-after-swap]");
    if (wanted) wanted.focus();
  });

  // A failed request (network or server) says so instead of silently doing nothing.
  function showError(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message message--error";
    p.textContent = text;
    box.appendChild(p);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) showError("Your session may have expired. Reload the page and try again.");
    else if (status === 404) showError("That item no longer exists. Reload the page.");
    else showError("Something went wrong. Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showError("The portal could not be reached. Check your connection and try again.");
  });

  // "Select all" checkboxes for bulk actions: <input type=checkbox data-select-all="name …">
  // ticks every checkbox of those names (inside the same form, or of any form on the page).
  document.addEventListener("change", function (event) {
    var names = event.target.getAttribute && event.target.getAttribute("data-select-all");
    if (!names) return;
    var scope = event.target.form || document;
    names.split(" ").forEach(function (name) {
      scope.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
        box.checked = event.target.checked;
      });
    });
  });

  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText((source.innerText || source.textContent).trim());
      button.textContent = "Copied";
    }
  });

  // Forms that undo something ask first: <form data-confirm="Remove …?">.
  document.addEventListener("submit", function (event) {
    var text = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (text && !window.confirm(text)) event.preventDefault();
  });
})();
