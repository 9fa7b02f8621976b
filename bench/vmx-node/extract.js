#!/usr/bin/env node
// Baseline for `vmx bench extract --node`: the Voicemail Express (VMX) Node.js
// KVS->WAV approach, run on a local GetMedia capture instead of a live stream.
//
// Mirrors (same libraries, same decoder callback, same buffering):
//   amazon-connect/voicemail-express-amazon-connect  Code/Core/vmx3_kvs_to_s3.js
//     "Version: 2024.07.03": the decoder.on('data') switch (TagName / TagString
//     ContactId + AWS_KINESISVIDEO_FRAGMENT_NUMBER / Block+SimpleBlock -> push
//     payload), the `wav` Writer setup (8000 Hz, 1 ch, 16 bit) and
//     parseNextFragmentNew(): httpData -> decoder.write(chunk); httpDone ->
//     writer.write(Buffer.concat(wavBufferArray)); writer.end().
//   VMX2 (amazon-connect/amazon-connect-salesforce-scv
//     Solutions/VMX2-VoicemailExpress/Code/vmx_kvs_to_s3.js, 2022.02.20) is the
//     same loop without the ContactId check and without decoder.destroy().
// Differences, all outside the measured decode loop:
//   * input is fs.createReadStream (default highWaterMark) instead of GetMedia
//     httpData chunks; the output is a file (wav.FileWriter) instead of
//     collecting Writer 'data' events into a Buffer for S3 PutObject (VMX's S3
//     object therefore kept the Writer's placeholder data length in its header;
//     FileWriter rewrites the header with the real length).
//   * no CTR: the expected ContactId is --contact-id, else the first ContactId
//     tag seen; the stop fragment is --stop-fragment, else none.
//   * --track-name (NOT in VMX) keeps only blocks whose TrackNumber maps to that
//     TrackEntry Name, so the output can be compared with the Go extractor.
//     Without it every block is kept, as VMX did (both tracks mixed).
'use strict';

const fs = require('fs');
const { Decoder } = require('ebml');
const { FileWriter } = require('wav');

function usage() {
  process.stderr.write('usage: node extract.js INPUT.mkv OUTPUT.wav [--track-name NAME] [--contact-id ID] [--stop-fragment N]\n');
  process.exit(2);
}

const pos = [];
const opt = { trackName: null, contactId: null, stopFragment: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const key = { '--track-name': 'trackName', '--contact-id': 'contactId', '--stop-fragment': 'stopFragment' }[a];
  if (key) {
    if (i + 1 >= argv.length) usage();
    opt[key] = argv[++i];
  } else if (a.startsWith('--')) {
    usage();
  } else {
    pos.push(a);
  }
}
if (pos.length !== 2) usage();
const [inputPath, outputPath] = pos;

const t0 = process.hrtime.bigint();

// --- VMX state (vmx3_kvs_to_s3.js, processRecord) ---
let shouldProcessKvs = true;
let currentTagName = '';
let currentFragment = BigInt(0);
let currentContactID = opt.contactId; // VMX: vmrecord.ContactId from the CTR
const stopFragmentNum = opt.stopFragment === null ? null : BigInt(opt.stopFragment);
const wavBufferArray = [];

// --- not VMX: TrackNumber -> TrackEntry Name, only used with --track-name ---
const trackNames = new Map();
let entryNumber = null;
let entryName = null;

const decoder = new Decoder();
decoder.on('data', (chunk) => {
  const { name, value } = chunk[1];

  if (opt.trackName !== null) {
    if (chunk[0] === 'start' && name === 'TrackEntry') { entryNumber = null; entryName = null; }
    if (name === 'TrackNumber') entryNumber = value;
    if (name === 'Name') entryName = value;
    if ((name === 'TrackNumber' || name === 'Name') && entryNumber !== null && entryName !== null) {
      trackNames.set(entryNumber, entryName);
    }
  }

  // VMX switch, as in 2024.07.03 (comments and logging trimmed)
  if (shouldProcessKvs) {
    switch (name) {
      case 'TagName':
        currentTagName = value;
        break;

      case 'TagString':
        if (currentTagName === 'ContactId') {
          if (currentContactID === null) currentContactID = value; // no CTR here
          if (value !== currentContactID) {
            shouldProcessKvs = false;
          }
        }
        if (currentTagName === 'AWS_KINESISVIDEO_FRAGMENT_NUMBER') {
          currentFragment = BigInt(value);
          if (stopFragmentNum !== null && currentFragment > stopFragmentNum) {
            // VMX 2024.07.03 calls decoder.destroy() here, but the ebml 3.0.0
            // Decoder (bundled readable-stream polyfill) has no destroy(): in
            // VMX that call throws a TypeError. Guarded so the bench runs.
            if (typeof decoder.destroy === 'function') decoder.destroy();
            shouldProcessKvs = false;
          }
        }
        break;

      case 'Block':
      case 'SimpleBlock':
        if (opt.trackName === null || trackNames.get(chunk[1].track) === opt.trackName) {
          wavBufferArray.push(chunk[1].payload);
        }
        break;

      default:
        break;
    }
  }
});

// VMX: new Writer({ sampleRate: 8000, channels: 1, bitDepth: 16 })
const wavOutputStream = new FileWriter(outputPath, { sampleRate: 8000, channels: 1, bitDepth: 16 });
let pcmBytes = 0;

wavOutputStream.on('done', () => { // FileWriter: header rewritten, file closed
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({
    blocks: wavBufferArray.length,
    pcm_bytes: pcmBytes,
    wall_ms: Math.round(wallMs * 1000) / 1000,
    max_rss_bytes: process.resourceUsage().maxRSS * 1024,
  }) + '\n');
});
wavOutputStream.on('error', (e) => { process.stderr.write(`wav: ${e.stack || e}\n`); process.exit(1); });

const input = fs.createReadStream(inputPath);
input.on('error', (e) => { process.stderr.write(`input: ${e.message}\n`); process.exit(1); });
// VMX: request.on('httpData', chunk => decoder.write(chunk))
input.on('data', (chunk) => { decoder.write(chunk); });
// VMX: request.on('httpDone', ...)
input.on('end', () => {
  const pcm = Buffer.concat(wavBufferArray);
  pcmBytes = pcm.length;
  wavOutputStream.write(pcm);
  wavOutputStream.end();
});
