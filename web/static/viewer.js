// The instance page's diagram: bpmn-js viewer with completed / active / overdue markers.
(function () {
  var el = document.getElementById('diagram');
  if (!el) { return; }
  var viewer = new BpmnJS({ container: el });
  function ids(name) { return (el.getAttribute('data-' + name) || '').split(',').filter(Boolean); }
  fetch(el.getAttribute('data-xml-url'), { credentials: 'same-origin' })
    .then(function (r) { return r.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      canvas.zoom('fit-viewport');
      [['completed', 'marker-completed'], ['active', 'marker-active'], ['overdue', 'marker-overdue']].forEach(function (pair) {
        ids(pair[0]).forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, pair[1]); } });
      });
      el.setAttribute('data-rendered', 'true');
    })
    .catch(function (err) {
      el.innerHTML = '<p class="p-3 text-muted">The diagram cannot be shown: ' + String(err.message || err) +
        ' (a BPMN file without diagram layout has nothing to draw).</p>';
      el.setAttribute('data-rendered', 'error');
    });
})();
