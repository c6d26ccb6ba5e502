// A button that prints the page (the plan agreement); no inline onclick under the Content-Security-Policy.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
