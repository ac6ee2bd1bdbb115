// Lint configuration: typescript-eslint's recommended type-aware rules over src/, test/, bench/ and
// loadtest/ (the k6 scripts are typed by loadtest/k6/tsconfig.json, which the project service finds).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['eslint.config.js', 'dist/**', 'node_modules/**', 'training/**', 'models/**', 'bench/results/**', 'src/client/gen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The playground's browser modules: plain JavaScript, outside the TypeScript project.
    files: ['src/server/static/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'location', 'navigator', 'sessionStorage', 'fetch', 'FormData', 'URL', 'Option', 'getSelection', 'setTimeout', 'console'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // The benchmarks stand apart from the test suite: shared helpers live in bench/lib.
    files: ['bench/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/test/**', '../test/*', '../../test/*'], message: 'bench/ imports nothing from test/' }] }] },
  },
);
