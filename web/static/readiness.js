// Readiness dashboard: draws the charts from the figures the page carries in
// <script type="application/json" id="readiness-data"> as [label, value] pairs per chart (no inline
// script: the CSP allows only 'self').
(function () {
  var node = document.getElementById('readiness-data');
  if (!node || typeof Chart === 'undefined') { return; }
  var data = JSON.parse(node.textContent);
  var palette = ['#198754', '#0d6efd', '#6f42c1', '#fd7e14', '#adb5bd', '#dc3545', '#20c997', '#ffc107'];

  function draw(id, figures, type, colours) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    var labels = figures.map(function (pair) { return pair[0].replace(/_/g, ' '); });
    var values = figures.map(function (pair) { return pair[1]; });
    new Chart(canvas, {
      type: type,
      data: {labels: labels, datasets: [{data: values, backgroundColor: colours || palette}]},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        indexAxis: type === 'bar' ? 'y' : 'x',
        plugins: {legend: {display: type !== 'bar', position: 'right'}},
        scales: type === 'bar' ? {x: {beginAtZero: true, ticks: {precision: 0}}} : {}
      }
    });
  }

  draw('chart-status', data.status, 'doughnut');
  draw('chart-ncs', data.ncs, 'bar', ['#dc3545', '#fd7e14', '#adb5bd']);
  draw('chart-flows', data.flows, 'bar', ['#0d6efd']);
  draw('chart-owners', data.owners, 'bar', ['#6f42c1']);
}());
