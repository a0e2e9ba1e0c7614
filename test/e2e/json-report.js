// The unit suite's totals reporter (test/json-report.js), writing test-results/e2e.json instead,
// so .ci/run can add the browser tests' counts to its summary line.
const path = require('node:path');
const JsonReport = require('../json-report.js');

class E2eJsonReport extends JsonReport {
  constructor(globalConfig, options) {
    super(globalConfig, options);
    this.file = path.join(globalConfig.rootDir, 'test-results', 'e2e.json');
  }

  onRunComplete(contexts, results) {
    // Jest sets results.success only after the reporters have run, so it always reads false here.
    const success = results.numFailedTestSuites === 0 && results.numRuntimeErrorTestSuites === 0 && results.numTotalTestSuites > 0;
    super.onRunComplete(contexts, { ...results, success });
  }
}

module.exports = E2eJsonReport;
