// A Jest reporter that writes the run's totals to test-results/jest.json (or the file its options name), so .ci/run can read
// them after the plain `npm test` without changing its command line.
const fs = require('node:fs');
const path = require('node:path');

class JsonReport {
  constructor(globalConfig, options = {}) {
    this.file = path.join(globalConfig.rootDir, 'test-results', options.file ?? 'jest.json');
  }

  onRunComplete(_contexts, results) {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const { numPassedTests, numFailedTests, numPendingTests, numTotalTests, numRuntimeErrorTestSuites, numFailedTestSuites } = results;
    // Jest sets results.success only after reporters have run, so it is worked out here.
    const success = numFailedTestSuites === 0 && numRuntimeErrorTestSuites === 0;
    fs.writeFileSync(
      this.file,
      JSON.stringify({ numPassedTests, numFailedTests, numPendingTests, numTotalTests, numRuntimeErrorTestSuites, success }, null, 2),
    );
  }
}

module.exports = JsonReport;
