// Package genhash is vigil's genhash command: it fetches one URL the way an
// HTTP_GET/SSL_GET checker does and prints the MD5 digest to put in a url
// block's digest keyword.
//
// It accepts keepalived 2.2.7's genhash options (genhash(1)) and prints the
// same non-verbose output: the digest as 32 hex digits, or keepalived's
// message for the failure. Like keepalived's genhash it exits 0 once the
// options parse, whatever the server did, and 1 on bad options. Verbose mode
// (-v) prints keepalived's sections (header hex and ASCII dumps, body dump,
// hash) but dumps the body as one buffer, where keepalived dumps each read.
package genhash
