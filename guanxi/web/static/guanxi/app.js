// Small behaviour shared by every page; htmx and Alpine do the rest.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("htmx-error");
  if (box) { box.textContent = event.detail.xhr.responseText.slice(0, 300); box.hidden = false; }
});
