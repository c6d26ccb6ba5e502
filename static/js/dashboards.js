// Charts of the KPI page, drawn from the JSON next to each canvas (the tables under them hold the same
// numbers for screen readers and for copying). Re-drawn when HTMX swaps the page body.
(function () {
  "use strict";
  const charts = [];

  function series(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw(root) {
    if (typeof Chart === "undefined") return;
    while (charts.length) charts.pop().destroy();
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const data = series(canvas.dataset.source);
      if (!data) return;
      const accent = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#1f5fa8";
      let config;
      if (canvas.dataset.chart === "trend") {
        config = {
          type: "line",
          data: {
            labels: data.ticks || data.labels,  // the day as the reader's language writes it
            datasets: [
              { label: data.names.attempts, data: data.attempts, borderColor: "#8a99ab", backgroundColor: "#8a99ab", tension: 0.2, yAxisID: "y" },
              { label: data.names.rpc, data: data.rpc, borderColor: accent, backgroundColor: accent, tension: 0.2, yAxisID: "y" },
              { label: data.names.promises, data: data.promises, borderColor: "#1e7b45", backgroundColor: "#1e7b45", tension: 0.2, yAxisID: "y" },
            ],
          },
          options: { maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
            plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }, scales: { y: { beginAtZero: true } } },
        };
      } else if (canvas.dataset.chart === "funnel") {
        // One horizontal bar per step; the tooltip adds the step's rate (the table says of what).
        config = {
          type: "bar",
          data: { labels: data.labels, datasets: [{ label: data.names.count, data: data.counts,
            backgroundColor: ["#8a99ab", accent, "#5b7fa8", "#1e7b45", "#b42318", "#c98a12"] }] },
          options: { indexAxis: "y", maintainAspectRatio: false, animation: false,
            plugins: { legend: { display: false }, tooltip: { callbacks: { afterLabel: (item) => {
              const rate = data.rates[item.dataIndex];
              return rate === null ? "" : `${(rate * 100).toFixed(1)}%`;
            } } } },
            scales: { x: { beginAtZero: true } } },
        };
      } else {
        config = {
          type: "bar",
          data: { labels: data.labels, datasets: [{ label: data.names.cases, data: data.cases, backgroundColor: accent }] },
          options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } },
            scales: { y: { beginAtZero: true } } },
        };
      }
      charts.push(new Chart(canvas, config));
    });
  }

  // Bar widths come as data attributes: the Content-Security-Policy allows no inline style="...".
  function sizeBars(root) {
    root.querySelectorAll("[data-bar-width]").forEach((bar) => { bar.style.width = `${bar.dataset.barWidth}%`; });
  }

  document.addEventListener("DOMContentLoaded", () => { sizeBars(document); draw(document); });
  document.addEventListener("htmx:afterSettle", () => { sizeBars(document); draw(document); });

  // The custom dates only matter for a custom period.
  document.addEventListener("change", (event) => {
    if (event.target.name === "period") {
      document.querySelectorAll(".dash-custom").forEach((el) => { el.hidden = event.target.value !== "custom"; });
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    const period = document.querySelector("select[name=period]");
    if (period) document.querySelectorAll(".dash-custom").forEach((el) => { el.hidden = period.value !== "custom"; });
  });
})();
