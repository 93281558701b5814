'use strict';
// Line-at-a-time pipes between the orchestrators and their child processes: the children read
// commands on stdin and answer with JSON lines on stdout.

// A 'data' listener (for a stream with a text encoding set) that calls `onLine` with every
// complete line, without its '\n'; a partial line waits for the rest.
function lineSplitter(onLine) {
  let buf = '';
  return (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
    }
  };
}

// Commands from the parent, one per line on stdin, trimmed. The end of stdin (or an error on it)
// means the parent is gone: `onEnd` runs, so a child never outlives its orchestrator.
function readStdinLines(onLine, onEnd) {
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', lineSplitter((line) => onLine(line.trim())));
  process.stdin.on('end', onEnd);
  process.stdin.on('error', onEnd);
}

module.exports = { lineSplitter, readStdinLines };
