// The escalation rule's condition rows: "Add a condition" copies a blank row, and every change asks the
// admin (conditions/count/) how many open cases the rows match now. Without JavaScript the form still
// works: two blank rows are always offered, and Preview shows the full answer.
(function () {
  "use strict";
  const table = document.querySelector("table.condition-rows");
  const config = document.getElementById("condition-editor");
  if (!table || !config) return;
  const name = table.dataset.name;
  const counter = document.querySelector("[data-testid=condition-count]");
  const form = table.closest("form");
  let timer = null;

  function rows() {
    return Array.from(table.querySelectorAll("tr.condition-row"));
  }

  function showErrors(errors) {
    rows().forEach(function (row) {
      const cell = row.querySelector(".condition-error");
      const message = errors[row.dataset.row];
      cell.textContent = message || "";
      row.classList.toggle("errors", Boolean(message));
    });
  }

  function count() {
    const data = new FormData();
    rows().forEach(function (row) {
      row.querySelectorAll("select, input").forEach(function (input) {
        data.append(input.name, input.value);
      });
    });
    const mode = form.querySelector("[name=match_mode]");
    if (mode) data.append("match_mode", mode.value);
    const token = form.querySelector("[name=csrfmiddlewaretoken]");
    fetch(config.dataset.countUrl, {
      method: "POST",
      body: data,
      headers: { "X-CSRFToken": token ? token.value : "" },
      credentials: "same-origin",
    })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.errors) {
          showErrors(answer.errors);
          counter.textContent = answer.errors[""] || config.dataset.fixRows;
        } else {
          showErrors({});
          counter.textContent = answer.text;
        }
      })
      .catch(function () { counter.textContent = ""; });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(count, 300);
  }

  table.addEventListener("change", later);
  table.addEventListener("input", later);
  const mode = form.querySelector("[name=match_mode]");
  if (mode) mode.addEventListener("change", later);

  document.querySelector("[data-add-condition]").addEventListener("click", function () {
    const last = rows()[rows().length - 1];
    const copy = last.cloneNode(true);
    const n = Number(last.dataset.row) + 1;
    copy.dataset.row = String(n);
    copy.classList.remove("errors");
    copy.querySelector(".condition-error").textContent = "";
    copy.querySelectorAll("select, input").forEach(function (input) {
      input.name = input.name.replace(/-\d+-/, "-" + n + "-");
      input.value = "";
    });
    last.parentNode.appendChild(copy);
  });

  count();
})();
