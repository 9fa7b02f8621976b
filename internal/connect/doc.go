// Package connect is vmx's Amazon Connect integration: it finds where a
// voicemail goes (Directory), delivers it as a task (TaskSink, modes "task"
// and "guided_task"), hands agents a fresh link to the recording from a
// flow (Presigner), and resets the contact's flag attribute once every
// destination has the voicemail (FlagReset).
//
// # Routing
//
// A voicemail is for a queue, or for one agent: either the queue ARN is an
// agent's personal queue (…/queue/agent/<agentId>, Voicemail Express 2 and
// VMX3-2024), or vmx3_target is "agent" and vmx3_preferred_agent names the
// agent's username (VMX3-2025). An agent that cannot be found never loses
// the voicemail: it goes to the queue, and Route says so in a warning.
// Only throttling is returned as an error (retry.After), so that a busy
// instance delays a voicemail rather than sending it to the wrong place.
//
// # Tasks
//
// Tasks are linked to the voice contact with PreviousContactId and carry the
// attributes that Voicemail Express's task flows read, under the contact's
// prefix (vmx3_, vmx_, vm_): queue_arn, target and preferred_agent_id route
// the task (the flow sets the working queue from queue_arn and, for target
// "agent", a routing criterion on preferred_agent_id); callback_number,
// source_queue, datetime, genai_summary and transcript are shown to the
// agent. Unlike Voicemail Express, vmx never overwrites <prefix>timestamp
// (the ISO time the recording processor reads) with a formatted date: the
// formatted date is <prefix>datetime.
//
// The ClientToken is derived from the delivery key, so a retried delivery
// finds the task it already created instead of making a second one.
// Every text is cut to what Connect accepts, marked "… [truncated]".
package connect
