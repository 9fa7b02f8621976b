package awsstate

// MaxAttempts is how many rounds Update tries before giving up.
const MaxAttempts = maxAttempts
