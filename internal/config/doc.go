// Package config is the configuration of vmx serve: one typed tree (Config)
// read from four layers, each overriding the one before:
//
//  1. defaults, documented per key (Reference writes the table);
//  2. a YAML file (Options.File, --config or $VMX_CONFIG);
//  3. environment variables, VMX_ followed by the key in upper case with
//     dots as underscores (webhook.url → VMX_WEBHOOK_URL), with a few
//     shorter names users know (s3.bucket → VMX_BUCKET, defaults.language →
//     VMX_DEFAULT_LANGUAGE; aws.region also reads AWS_REGION); an empty
//     variable counts as unset;
//  4. command-line flags registered by RegisterFlags, of which only those
//     given explicitly count.
//
// The lifecycle follows Caddy's: strict decode, defaults, validate, and only
// then side effects. The YAML file is decoded through yaml.Node so that
// every unknown key, duplicate key or misshapen value is reported with its
// line ("config.yaml:12: unknown key \"webhok\" (did you mean
// \"webhook\"?)"). A value that does not parse is reported and leaves the
// layer below in place, so that Problems can list every problem at once,
// each with its dotted key, the rule broken, where the value came from
// (default, file:line, env VAR, flag --name) and what to do. Load fails
// with all of them; Resolve returns the configuration regardless, for
// vmx config check, which prints it with Describe (secrets redacted).
//
// Durations take Go syntax plus a day unit: "90s", "10m", "1h30m", "7d",
// "1d12h" (ParseDuration). Booleans take true/false, yes/no, on/off and 1/0.
// Lists take a YAML sequence or a comma-separated string.
//
// Secrets. api_key, link_secret and webhook.secret are read only from the
// file or the environment (a command line is visible to other users) and
// are never printed. vmx generates nothing silently that a client must
// know: api_key is required unless api_auth is set to "none" explicitly.
// The link secret, which only vmx itself needs, defaults to 32 random bytes
// generated on first start and kept in <data_dir>/link_secret (mode 0600)
// by EnsureLinkSecret; Load only reads that file. Replacing it invalidates
// the media links already sent.
//
// Derived defaults: db defaults to sqlite://<data_dir>/vmx.db, public_url to
// http://HOST:PORT of listen (localhost for a wildcard host) and
// kinesis.enabled to whether kinesis.stream is set; each follows the final
// value of the setting it derives from unless set itself.
package config
