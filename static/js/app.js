// Small progressive enhancements; every page works without them.
document.addEventListener("htmx:responseError", (event) => {
  const target = event.detail.target;
  if (target) {
    target.insertAdjacentHTML("afterbegin", `<p class="error" role="alert">${event.detail.xhr.statusText || "Error"}</p>`);
  }
});
