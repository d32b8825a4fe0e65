// vitest runs only automerge-repo's own adapter acceptance suites against our adapters.
// (Its default exclude hides dist/, where the compiled suites live.)
export default {
  test: {
    include: ['dist/test/vitest/**/*.vitest.js'],
    exclude: ['**/node_modules/**'],
    testTimeout: 60000,
    pool: 'forks',
  },
};
