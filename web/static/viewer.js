// The instance page's diagram: bpmn-js viewer with completed / active / overdue markers, zoom buttons
// (in, out, whole process, current step), the mouse wheel with Ctrl to zoom and dragging to move. A wide
// process opens on its current step at a readable size rather than as a thin strip.
(function () {
  var el = document.getElementById('diagram');
  if (!el) { return; }
  var viewer = new BpmnJS({ container: el });
  var READABLE = 0.75;
  function ids(name) { return (el.getAttribute('data-' + name) || '').split(',').filter(Boolean); }
  function onClick(action, fn) {
    var button = document.querySelector('[data-zoom="' + action + '"]');
    if (button) { button.addEventListener('click', fn); }
  }
  fetch(el.getAttribute('data-xml-url'), { credentials: 'same-origin' })
    .then(function (r) { return r.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      [['completed', 'marker-completed'], ['active', 'marker-active'], ['overdue', 'marker-overdue']].forEach(function (pair) {
        ids(pair[0]).forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, pair[1]); } });
      });
      var current = ids('overdue').concat(ids('active')).map(function (id) { return registry.get(id); })
        .filter(Boolean);
      function whole() { canvas.zoom('fit-viewport', 'auto'); }
      function onCurrent() {
        if (!current.length) { whole(); return; }
        canvas.zoom(READABLE);
        canvas.scrollToElement(current[0], { top: 120, bottom: 120, left: 200, right: 200 });
      }
      whole();
      if (canvas.zoom() < READABLE * 0.8 && current.length) { onCurrent(); }
      function level() { el.setAttribute('data-zoom-level', String(Math.round(canvas.zoom() * 100) / 100)); }
      viewer.on('canvas.viewbox.changed', level);
      onClick('in', function () { canvas.zoom(canvas.zoom() * 1.25); });
      onClick('out', function () { canvas.zoom(canvas.zoom() / 1.25); });
      onClick('fit', whole);
      onClick('current', onCurrent);
      level();
      el.setAttribute('data-rendered', 'true');
    })
    .catch(function (err) {
      el.innerHTML = '<p class="p-3 text-muted">The diagram cannot be shown: ' + String(err.message || err) +
        ' (a BPMN file without diagram layout has nothing to draw).</p>';
      el.setAttribute('data-rendered', 'error');
    });
})();
