// vitest runs only automerge-repo's own adapter acceptance suites against our adapters.
export default {
  test: {
    include: ['dist/test/vitest/**/*.vitest.js'],
    testTimeout: 60000,
    pool: 'forks',
  },
};
