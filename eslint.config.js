// Lint rules: type-aware; floating promises are errors (an unawaited promise on the data path hides failures).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // Dependency direction (DESIGN.md): discovery and infra never import the gateway.
    files: ['discovery/**/*.ts', 'infra/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/gateway/**', '../gateway', '../../gateway'],
              message: 'discovery/ and infra/ must not import gateway/',
            },
          ],
        },
      ],
    },
  },
  {
    // The gateway, discovery and infra write through their logger: a console line there is a debugging
    // leftover on a hot path. The CLI and the demo talk to a terminal.
    files: ['gateway/**/*.ts', 'discovery/**/*.ts', 'infra/**/*.ts'],
    ignores: ['gateway/cli/**', 'gateway/demo/**'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
