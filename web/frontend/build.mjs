// Builds web/static/vendor/modeler-lint.js: bpmn-js-bpmnlint with bpmnlint's `recommended` rules packed
// in (bpmnlint resolves rules by name at run time, which a browser cannot do, so every rule is imported
// here explicitly, as bpmnlint-pack-config would). Run by `make install` after `npm ci`; the output is
// never committed. The page exposes it as `window.AimsflowLint = { module, bpmnlint, engineRules }`.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const recommended = require('bpmnlint/config/recommended');

// The engine's lint (engine/core/lint_structure.py) implements these rules under the same names and decides
// their severity; the browser reports them at once, and the server's answer then replaces them.
// `label-required` is an error there only on human tasks, so the browser says warning until it answers.
const ENGINE = {
  'conditional-flows': 'error', 'end-event-required': 'error', 'fake-join': 'warn', 'label-required': 'warn',
  'no-disconnected': 'error', 'no-duplicate-sequence-flows': 'error', 'no-implicit-split': 'error',
  'single-blank-start-event': 'error', 'start-event-required': 'error', 'superfluous-gateway': 'warn',
  // the engine's names for the same checks: dead-end, unreachable, unsupported-*, sub-process-start
  'no-implicit-end': 'error', 'no-implicit-start': 'error', 'no-complex-gateway': 'error',
  'link-event': 'error', 'sub-process-blank-start-event': 'error'
};
// every other recommended rule is advice here: the server does not refuse publish for it
const rules = {};
for (const name of Object.keys(recommended.rules)) {
  rules[name] = ENGINE[name] || (recommended.rules[name] === 'off' ? 'off' : 'warn');
}
const names = Object.keys(rules).filter((name) => rules[name] !== 'off');

const entry = [
  "import lintModule from 'bpmn-js-bpmnlint';",
  "import StaticResolver from 'bpmnlint/lib/resolver/static-resolver';",
  ...names.map((name, i) => `import rule${i} from 'bpmnlint/rules/${name}';`),
  'const cache = {};',
  ...names.map((name, i) => `cache['rule:bpmnlint/${name}'] = rule${i};`),
  `window.AimsflowLint = { module: lintModule, bpmnlint: { config: { rules: ${JSON.stringify(rules)} },`,
  '  resolver: new StaticResolver(cache) }, engineRules: ' + JSON.stringify(Object.keys(ENGINE)) + ' };'
].join('\n');

await build({
  stdin: { contents: entry, resolveDir: root, sourcefile: 'modeler-lint-entry.js' },
  bundle: true, format: 'iife', minify: true, target: 'es2019', legalComments: 'none',
  outfile: path.join(root, 'web', 'static', 'vendor', 'modeler-lint.js'), logLevel: 'warning'
});
