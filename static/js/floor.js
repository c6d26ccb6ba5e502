// The Cases page (supervisor floor): a box that ticks every case on the page, and only the fields of the
// chosen bulk action shown. Without JavaScript every field shows and each case is ticked by hand.
(function () {
  "use strict";

  function setUp(form) {
    const all = form.querySelector("[data-tick-page]");
    const boxes = () => Array.from(form.querySelectorAll("input[data-tick]"));
    if (all) {
      all.hidden = false;
      all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
      form.addEventListener("change", (event) => {
        if (event.target.matches("input[data-tick]")) all.checked = boxes().every((box) => box.checked);
      });
    }
    const action = form.querySelector("select[name=action]");
    if (action) {
      const show = () => form.querySelectorAll("[data-for-action]").forEach((field) => {
        field.hidden = field.dataset.forAction !== action.value;
      });
      action.addEventListener("change", show);
      show();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-floor-bulk]").forEach(setUp);
  });
})();
