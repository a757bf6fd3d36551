// elastic-apm-node as its docs set it up (`--require elastic-apm-node/start`),
// sending to the sink; no cloud metadata probe (it would leave loopback) and no
// central config polling.
process.env.ELASTIC_APM_SERVER_URL = process.env.BENCH_SINK
process.env.ELASTIC_APM_SERVICE_NAME = 'bench'
process.env.ELASTIC_APM_CLOUD_PROVIDER = 'none'
process.env.ELASTIC_APM_CENTRAL_CONFIG = 'false'
process.env.ELASTIC_APM_APM_SERVER_VERSION = '8.15.0'
process.env.ELASTIC_APM_API_REQUEST_TIME = '2s'
process.env.ELASTIC_APM_LOG_LEVEL = 'error'
require('elastic-apm-node/start')
