// An objective's page: draws its measurements over time, with the target as a dashed line, from the
// figures the page carries in <script type="application/json" id="objective-chart-data"> (no inline
// script: the CSP allows only 'self').
(function () {
  var node = document.getElementById('objective-chart-data');
  var canvas = document.getElementById('objective-chart');
  if (!node || !canvas || typeof Chart === 'undefined') { return; }
  var data = JSON.parse(node.textContent);
  var unit = data.unit && data.unit !== 'ratio' ? ' ' + data.unit : '';
  var datasets = [{
    label: 'Measured' + (unit ? ' (' + data.unit + ')' : ''), data: data.values,
    borderColor: '#0d6efd', backgroundColor: '#0d6efd', tension: 0.2, pointRadius: 4
  }];
  if (data.target !== null && data.target !== undefined) {
    datasets.push({
      label: 'Target ' + data.target + unit, data: data.labels.map(function () { return data.target; }),
      borderColor: '#198754', borderDash: [6, 4], pointRadius: 0, fill: false
    });
  }
  if (data.baseline !== null && data.baseline !== undefined) {
    datasets.push({
      label: 'Baseline ' + data.baseline + unit, data: data.labels.map(function () { return data.baseline; }),
      borderColor: '#adb5bd', borderDash: [2, 3], pointRadius: 0, fill: false
    });
  }
  var labels = data.labels.map(function (day) {
    return new Date(day + 'T00:00:00').toLocaleDateString(undefined, {day: 'numeric', month: 'short', year: 'numeric'});
  });
  new Chart(canvas, {
    type: 'line',
    data: {labels: labels, datasets: datasets},
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      plugins: {legend: {position: 'bottom'}},
      scales: {y: {title: {display: !!data.unit, text: data.unit || ''}}}
    }
  });
}());
