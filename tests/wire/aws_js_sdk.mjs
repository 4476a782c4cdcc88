// Runs a list of AWS SDK for JavaScript v3 calls (installed in tests/node) against regauth and prints
// one JSON object: label -> {ok: {...output}} or {error: {...as the SDK reports it}}.
// Read by tests/wire/test_aws_js_sdk.py; the calls come in AWS_JS_ARGS:
//   {dir, endpoint, calls: [{label, client, region, keys | sessionFrom, command, input}]}
// `sessionFrom` names an earlier AssumeRole call whose Credentials sign this one, as
// aws-actions/configure-aws-credentials hands them on. Dates print as {"$date": ms}, so the
// test sees that the SDK parsed a timestamp, not that some string came back.
import { createRequire } from 'node:module';
import path from 'node:path';

const args = JSON.parse(process.env.AWS_JS_ARGS);
const require = createRequire(path.join(args.dir, 'package.json'));
const MODULES = {
  ecr: [require('@aws-sdk/client-ecr'), 'ECRClient'],
  ecrp: [require('@aws-sdk/client-ecr-public'), 'ECRPUBLICClient'],
  ca: [require('@aws-sdk/client-codeartifact'), 'CodeartifactClient'],
  sts: [require('@aws-sdk/client-sts'), 'STSClient'],
};

function withDates(key, value) {
  return this[key] instanceof Date ? { $date: this[key].getTime() } : value;
}

function describeError(err, mod) {
  const exported = Object.entries(mod)
    .filter(([, v]) => typeof v === 'function' && v.prototype instanceof Error && err instanceof v);
  return {
    name: err.name, message: err.message, status: err.$metadata?.httpStatusCode, fault: err.$fault,
    attempts: err.$metadata?.attempts,
    // modeled: the operation's own exception classes the error is an instance of
    modeled: exported.map(([k]) => k).filter((k) => k.endsWith('Exception') && !k.endsWith('ServiceException')),
    serviceException: exported.some(([k]) => k.endsWith('ServiceException')),
  };
}

function credentials(call, results) {
  if (!call.sessionFrom) return call.keys;
  const c = results[call.sessionFrom].ok.Credentials;
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

const results = {};
for (const call of args.calls) {
  if (call.sessionFrom && !results[call.sessionFrom]?.ok) {
    results[call.label] = { skipped: `no session: ${call.sessionFrom} did not succeed` };
    continue;
  }
  const [mod, clientName] = MODULES[call.client];
  const client = new mod[clientName]({ endpoint: args.endpoint, region: call.region || 'us-east-1',
                                       credentials: credentials(call, results) });
  try {
    const { $metadata, ...output } = await client.send(new mod[call.command + 'Command'](call.input || {}));
    results[call.label] = { ok: { ...output, $status: $metadata.httpStatusCode } };
  } catch (err) {
    if (!err.$metadata) throw err;           // not an answer from the service: let the test see the stack
    results[call.label] = { error: describeError(err, mod) };
  }
}
process.stdout.write(JSON.stringify(results, withDates));
