package guardianwf

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/redis/misconf"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/selfheal"
	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// guardianActs names the guardian's activities.
var guardianActs *guardian.Activities

// The operations the guardian starts.
const (
	OpRecover    = selfheal.OpRecover
	OpSwitchover = selfheal.OpSwitchover
)

// QueryHealth is the guardian's query: it answers GuardianHealth.
const QueryHealth = "health"

// GuardianWorkflowID is the ID of a cluster's guardian. It differs from the
// operation workflow ID on purpose: the guardian runs beside operations.
func GuardianWorkflowID(namespace, cluster string) string {
	return "dayops-guardian/" + namespace + "/" + cluster
}

// GuardianInput is the guardian's state, carried across continue-as-new.
type GuardianInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// Known is the memory of the cluster's instances (see guard.Member).
	Known  map[int]guard.Member `json:"known,omitempty"`
	Health GuardianHealth       `json:"health"`
	// Interval between observations (default 500ms); MaxWait bounds one
	// watch (default 1m); Iterations is how many watches one run makes
	// before it continues as new (default 100).
	Interval   time.Duration `json:"interval,omitempty"`
	MaxWait    time.Duration `json:"maxWait,omitempty"`
	Iterations int           `json:"iterations,omitempty"`
	// RecoverNotBefore backs off after a recovery: no new one starts
	// before it (see recoverBackoff); the watch returns as soon as it
	// passes. RecoverAttempts counts the recovers started in a row for the
	// same losses, RecoverFor (recoverKey), while the cluster was not
	// healthy in between.
	RecoverNotBefore time.Time `json:"recoverNotBefore,omitzero"`
	RecoverAttempts  int       `json:"recoverAttempts,omitempty"`
	RecoverFor       string    `json:"recoverFor,omitempty"`
	// ReportedLost are the ordinals already recorded as InstanceLost.
	ReportedLost []int `json:"reportedLost,omitempty"`
	// ReadServices is the shard count whose read-only Services exist.
	ReadServices int `json:"readServices,omitempty"`
	// Fences are the instance managers' fence record IDs already recorded
	// as Fenced events, by ordinal. An ordinal the guardian no longer knows
	// (its instance removed by a scale-in, see guard.Member) is dropped, so
	// the map, carried in every watch's input and across continue-as-new,
	// holds the cluster's instances at most (changePruneFences).
	Fences map[int]string `json:"fences,omitempty"`
	// Pending are events a watch made that are not yet known to be in the
	// audit log, oldest first, with the IDs they keep until they are
	// (changeRecordApart): a run that continues as new hands them on.
	Pending []PendingEvents `json:"pending,omitempty"`
}

// PendingEvents are one watch's events waiting for the audit log.
type PendingEvents struct {
	// OperationID is the guardian run's that made them (their correlation).
	OperationID string           `json:"operationId"`
	Events      []auditlog.Event `json:"events"`
}

// changeRecordApart marks guardian runs that record their events apart
// from the watch: a coroutine appends them while the watch goes on, so an
// audit database that is down holds the records, never the relabelling of
// the next failover. Runs recorded before it recorded each watch's events
// before the next watch.
const changeRecordApart = "guardian-record-apart"

// recoverWaitsForRecord bounds how long a recover start waits for the
// guardian's pending events (the loss it repairs) to be recorded, so the
// log says the instance was lost before the recovery begins; in an outage
// of the audit database the recover starts anyway (its own steps wait for
// the database).
const recoverWaitsForRecord = 5 * time.Second

// changePruneFences marks guardian runs that drop the fence records of
// ordinals no longer known; runs recorded before it kept them all.
const changePruneFences = "guardian-prune-fences"

// GuardianHealth is what the guardian knows of its cluster (QueryHealth).
type GuardianHealth struct {
	State     string       `json:"state"`
	Reasons   []string     `json:"reasons,omitempty"`
	Desired   int          `json:"desired"`
	Ready     int          `json:"ready"`
	Lost      []guard.Lost `json:"lost,omitempty"`
	Primaries map[int]int  `json:"primaries,omitempty"`
	// Going are the ordinals whose Pods are being deleted on Ready nodes
	// (shutting down; a recover waits for them: guard.LosingWhole).
	Going      []int     `json:"going,omitempty"`
	ObservedAt time.Time `json:"observedAt,omitzero"`
	// DegradedSince is when the cluster stopped being whole (zero when healthy).
	DegradedSince time.Time `json:"degradedSince,omitzero"`
	Failovers     int       `json:"failovers"`
	Recoveries    int       `json:"recoveries"`
	// Fences counts the fenced starts recorded (Fenced events).
	Fences int `json:"fences,omitempty"`
	// LastRecovery is the operation ID of the last recover it started.
	LastRecovery string `json:"lastRecovery,omitempty"`
	// RecoverAttempts counts the recovers started in a row for the same
	// losses (more than one: they failed, or the loss came back), and
	// NextRecovery is when the next may start (the back-off).
	RecoverAttempts int       `json:"recoverAttempts,omitempty"`
	NextRecovery    time.Time `json:"nextRecovery,omitzero"`
	// PendingEvents counts the events waiting for the audit database.
	PendingEvents int `json:"pendingEvents,omitempty"`
	// LastRepairSeconds is how long the last degraded period lasted.
	LastRepairSeconds float64 `json:"lastRepairSeconds,omitempty"`
	// Observations and RedisCommands count the guardian's work (its cost).
	Observations  int64 `json:"observations"`
	RedisCommands int64 `json:"redisCommands"`
	// WritesRefused are the primaries the last sweeps found refusing
	// writes for a disk error (see handOverRefused).
	WritesRefused []misconf.Refusal `json:"writesRefused,omitempty"`
	// Known is the guardian's memory, for a recover started by hand.
	Known map[int]guard.Member `json:"known,omitempty"`
}

// Guardian keeps one cluster whole from its creation until its deletion:
// it watches Pods and Redis (the Watch activity relabels roles on the spot),
// records failovers, losses and repairs as audit events with the system
// actor, and starts a recover operation for lost instances when no other
// operation of the cluster runs. It ends when the cluster is gone and
// continues as new every Iterations watches.
func Guardian(ctx workflow.Context, in GuardianInput) error {
	if in.Interval <= 0 {
		in.Interval = 500 * time.Millisecond
	}
	if in.MaxWait <= 0 {
		in.MaxWait = time.Minute
	}
	if in.Iterations <= 0 {
		in.Iterations = 100
	}
	g := &guardianRun{ctx: ctx, in: in}
	if err := workflow.SetQueryHandler(ctx, QueryHealth, func() (GuardianHealth, error) {
		h := g.health()
		h.Known = g.in.Known
		return h, nil
	}); err != nil {
		return err
	}
	var runID string
	_ = workflow.SideEffect(ctx, func(workflow.Context) any { return uuid.NewString() }).Get(&runID)
	g.meta = operation.Meta{OperationID: runID, Type: "guard", Namespace: in.Namespace, Cluster: in.Cluster,
		Actor: audit.SystemActor, Reason: "guardian", RequestedAt: workflow.Now(ctx)}
	g.publish()
	g.pruneFences = workflow.GetVersion(ctx, changePruneFences, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	g.apart = workflow.GetVersion(ctx, changeRecordApart, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	g.backoff = workflow.GetVersion(ctx, changeRecoverBackoff, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	g.refusedAfterStart = workflow.GetVersion(ctx, changeRefusedAfterStart, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	g.healthyEndsWait = workflow.GetVersion(ctx, changeHealthyEndsWait, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	if g.apart {
		workflow.Go(ctx, g.recorder)
	}
	for range in.Iterations {
		gone, err := g.tick()
		if err == nil {
			err = g.recordErr
		}
		if err != nil {
			return err
		}
		if gone {
			g.in.Health.State = "Deleted"
			g.publish()
			// The cluster's last events are written before the guardian
			// ends (however long the audit database takes).
			if err := workflow.Await(ctx, func() bool { return len(g.in.Pending) == 0 || g.recordErr != nil }); err != nil {
				return err
			}
			return g.recordErr
		}
	}
	// Events still pending go to the next run, which records them with
	// the same IDs (a record of this run still under way writes nothing
	// twice).
	return workflow.NewContinueAsNewError(ctx, Guardian, g.in)
}

type guardianRun struct {
	ctx  workflow.Context
	in   GuardianInput
	meta operation.Meta
	// pruneFences: this run drops fence records of forgotten ordinals;
	// backoff: it backs off exponentially from recovers of the same losses;
	// refusedAfterStart: it records WritesRefused once the switchover started.
	pruneFences       bool
	backoff           bool
	refusedAfterStart bool
	// healthyEndsWait: the cluster seen healthy ends the wait after a
	// recover (backoff.go).
	healthyEndsWait bool
	// apart: this run records its events apart from the watch (recorder);
	// seq numbers the events it queued (their IDs), recordErr is the
	// recorder's failure (an event the log refuses), which ends the run.
	apart     bool
	seq       int
	recordErr error
}

func (g *guardianRun) opts(summary string, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(g.ctx, activityOptions(summary, timeout))
}

// activityOptions are the options of the guardian's steps.
func activityOptions(summary string, timeout time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		Summary: summary, StartToCloseTimeout: timeout, HeartbeatTimeout: flow.HeartbeatTimeout,
		// A bounded budget (about 10 minutes of retries): a guardian whose
		// step keeps failing ends, and the server's guardian loop
		// (internal/server Guardians) starts a fresh one within seconds.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 60},
	}
}

// tick makes one watch, absorbs what it saw into the guardian's state and
// records it, keeps the read-only Services in step with the shard count and
// starts a recover when one is needed.
func (g *guardianRun) tick() (gone bool, err error) {
	in := &g.in
	var res guardian.WatchResult
	now := workflow.Now(g.ctx)
	ctx := g.opts("watch pods and redis", in.MaxWait+2*time.Minute)
	if err := workflow.ExecuteActivity(ctx, guardianActs.Watch, guardian.WatchInput{
		Namespace: in.Namespace, Cluster: in.Cluster, Known: in.Known, Fingerprint: fingerprint(in.Health),
		Interval: in.Interval, MaxWait: in.MaxWait, ReturnOnLost: true, RecoverNotBefore: in.RecoverNotBefore, DegradedSince: in.Health.DegradedSince,
		Fences: in.Fences,
	}).Get(ctx, &res); err != nil {
		return false, err
	}
	obs := res.Observation
	if obs.Gone {
		return true, nil
	}
	as := obs.Assessment
	now = workflow.Now(g.ctx)
	if events := g.absorb(res, now); g.apart {
		g.queue(events)
	} else if err := g.record(events...); err != nil {
		return false, err
	}
	if obs.Spec != nil && obs.Spec.Shards != in.ReadServices && as.State != guard.StateBusy {
		ctx := g.opts("ensure read-only Services", time.Minute)
		if err := workflow.ExecuteActivity(ctx, guardianActs.EnsureReadServices, guardian.EnsureReadServicesInput{
			Namespace: in.Namespace, Cluster: in.Cluster, Shards: obs.Spec.Shards}).Get(ctx, nil); err != nil {
			return false, err
		}
		in.ReadServices = obs.Spec.Shards
	}
	if g.backoff && as.State == guard.StateHealthy && len(res.OpenSlots) == 0 && len(res.WritesRefused) == 0 {
		in.RecoverAttempts, in.RecoverFor = 0, ""
		if g.healthyEndsWait {
			in.RecoverNotBefore = time.Time{}
		}
	}
	in.Health.WritesRefused = res.WritesRefused
	// Histories before the open-slot sweep carry no OpenSlots (before the
	// disk sweep no WritesRefused): no recover, no switchover.
	due := as.State != guard.StateBusy && !workflow.Now(g.ctx).Before(in.RecoverNotBefore)
	switch {
	case due && (as.NeedsRecovery() || len(res.OpenSlots) > 0):
		if err := g.startRecover(as, res.OpenSlots); err != nil {
			return false, err
		}
	case due && len(res.WritesRefused) > 0:
		if err := g.handOverRefused(as, res.WritesRefused); err != nil {
			return false, err
		}
	}
	g.publish()
	return false, nil
}

// absorb folds one watch's result into the guardian's state (memory,
// health, reported losses and fences) and returns the events it makes:
// failovers, fences, failover holds cleared, losses, and the cluster
// turning degraded or healthy.
// It runs no activity.
func (g *guardianRun) absorb(res guardian.WatchResult, now time.Time) []audit.Payload {
	in := &g.in
	obs := res.Observation
	as := obs.Assessment
	in.Known = as.Known
	h := &in.Health
	h.Observations += int64(res.Observations)
	h.RedisCommands += int64(res.Commands)
	var events []audit.Payload
	key := operation.ClusterKey(in.Namespace, in.Cluster)
	for _, f := range res.Failovers {
		h.Failovers++
		ms := int64(0)
		if !res.LabelledAt.IsZero() && !res.NoticedAt.IsZero() {
			ms = res.LabelledAt.Sub(res.NoticedAt).Milliseconds()
		}
		events = append(events, &audit.FailoverObserved{Cluster: key, Shard: f.Shard, FromOrdinal: f.From, ToOrdinal: f.To, LabelledMS: ms},
			&audit.RoleChanged{Cluster: key, Ordinal: f.To, Role: audit.RolePrimary, PreviousRole: audit.RoleReplica})
	}
	for _, f := range obs.Fences {
		if in.Fences[f.Ordinal] == f.ID {
			continue
		}
		if in.Fences == nil {
			in.Fences = map[int]string{}
		}
		in.Fences[f.Ordinal] = f.ID
		h.Fences++
		events = append(events, &audit.Fenced{Cluster: key, Shard: f.Shard, Ordinal: f.Ordinal, Reason: f.Reason, FenceID: f.ID,
			Action: f.Action, Role: f.Role, ServeAfterMS: f.ServeAfter.Milliseconds(), SelfOffset: f.SelfOffset,
			ReplicaOffset: f.ReplicaOffset, Unverified: f.Unverified})
	}
	if g.pruneFences {
		pruneFences(in.Fences, as.Known)
	}
	// Histories before the hold sweep carry no HoldsReleased: no event.
	for _, r := range res.HoldsReleased {
		events = append(events, &audit.FailoverHoldReleased{Cluster: key, Shard: r.Shard, Ordinal: r.Ordinal, Role: string(r.Role)})
	}
	var lostNow []int
	for _, l := range as.Lost {
		lostNow = append(lostNow, l.Ordinal)
		if !slices.Contains(in.ReportedLost, l.Ordinal) {
			events = append(events, &audit.InstanceLost{Cluster: key, Shard: l.Shard, Ordinal: l.Ordinal, NodeID: l.NodeID, Reason: l.Reason})
		}
	}
	if as.State != guard.StateBusy {
		in.ReportedLost = lostNow
	} else {
		in.ReportedLost = append(in.ReportedLost, lostNow...)
	}
	switch {
	case as.State == guard.StateDegraded && h.DegradedSince.IsZero():
		h.DegradedSince = now
		events = append(events, &audit.ClusterDegraded{Cluster: key, Reasons: as.Reasons})
	case as.State == guard.StateHealthy && !h.DegradedSince.IsZero():
		d := now.Sub(h.DegradedSince)
		h.LastRepairSeconds = d.Seconds()
		h.DegradedSince = time.Time{}
		events = append(events, &audit.ClusterHealthy{Cluster: key, DegradedMS: d.Milliseconds()})
	}
	h.State, h.Reasons, h.Desired, h.Ready, h.Lost, h.Primaries, h.ObservedAt = as.State, as.Reasons, as.Desired, as.Ready, as.Lost, as.Primaries, obs.At
	h.Going = guard.GoingOrdinals(obs.Input.Pods)
	return events
}

// pruneFences drops the fence records of ordinals the guardian's memory no
// longer holds: their instance is gone for good (a scale-in removed it; new
// instances take new ordinals, and a fence record's ID is unique anyway), so
// the record could never match again. A lost instance stays known until it
// is recovered, and its record with it.
func pruneFences(fences map[int]string, known map[int]guard.Member) {
	for _, o := range slices.Sorted(maps.Keys(fences)) {
		if _, ok := known[o]; !ok {
			delete(fences, o)
		}
	}
}

// startRecover starts a recover operation for the lost instances of as
// and the slots found left open.
func (g *guardianRun) startRecover(as guard.Assessment, open []leftopen.Slot) error {
	in := &g.in
	if g.apart {
		if _, err := workflow.AwaitWithTimeout(g.ctx, recoverWaitsForRecord, func() bool { return len(in.Pending) == 0 }); err != nil {
			return err
		}
	}
	var opID string
	_ = workflow.SideEffect(g.ctx, func(workflow.Context) any { return newOperationID() }).Get(&opID)
	var reasons []string
	for _, l := range as.Lost {
		reasons = append(reasons, l.Reason)
	}
	if len(open) > 0 {
		reasons = append(reasons, "a slot move cut short left slots open: "+leftopen.Describe(open))
	}
	m := operation.Meta{OperationID: opID, Type: OpRecover, Namespace: in.Namespace, Cluster: in.Cluster,
		Actor: audit.SystemActor, Reason: strings.Join(reasons, "; "), RequestedAt: workflow.Now(g.ctx)}
	rin := selfheal.RecoverInput{Meta: m, Lost: as.Lost, Known: as.Known}
	var res guardian.StartRecoverResult
	ctx := g.opts("start a recover operation", time.Minute)
	if err := workflow.ExecuteActivity(ctx, guardianActs.StartRecover, guardian.StartRecoverInput{
		Meta: m, Input: rin, Summary: "**recover** started by the guardian: " + m.Reason,
	}).Get(ctx, &res); err != nil {
		return err
	}
	if res.Started {
		in.Health.Recoveries++
		in.Health.LastRecovery = opID
		// The operation holds the cluster while it runs (the guardian sees
		// it as Busy); after it, a loss that remains waits before the next
		// attempt, so a failing recovery does not loop hot.
		if g.backoff {
			in.backOff(recoverKey(as, open), workflow.Now(g.ctx))
		} else {
			in.RecoverNotBefore = workflow.Now(g.ctx).Add(recoverBackoffFirst)
		}
	}
	return nil
}

// newOperationID is a time-ordered operation ID (UUIDv7).
func newOperationID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// record appends the guardian's own events with the system actor.
func (g *guardianRun) record(events ...audit.Payload) error {
	if len(events) == 0 {
		return nil
	}
	ri := recordInput(events)
	ctx := operation.WithMeta(g.opts("record "+strings.Join(flow.Dedupe(eventNames(events)), ", "), time.Minute), g.meta)
	return workflow.ExecuteActivity(ctx, flow.AuditActs.RecordEvents, ri).Get(ctx, nil)
}

// queue hands one watch's events to the recorder, each with an ID of its
// own: the run's ID and the event's number in the run.
func (g *guardianRun) queue(events []audit.Payload) {
	if len(events) == 0 {
		return
	}
	p := PendingEvents{OperationID: g.meta.OperationID}
	for _, e := range events {
		id := eventstore.StepEventID(GuardianWorkflowID(g.in.Namespace, g.in.Cluster)+"/"+g.meta.OperationID, "event", g.seq)
		g.seq++
		p.Events = append(p.Events, auditlog.NewEvent(e).WithID(id))
	}
	g.in.Pending = append(g.in.Pending, p)
}

// recorder appends the pending events in order, one guardian run's at a
// time, while the watch goes on. The record is retried for as long as the
// audit database refuses it (a restart, a failover, an outage): each event
// keeps its ID, so an append that went through before its answer was lost
// is not written twice. Only an event the log refuses (a bad event) ends it,
// and with it the run.
func (g *guardianRun) recorder(ctx workflow.Context) {
	for {
		if err := workflow.Await(ctx, func() bool { return len(g.in.Pending) > 0 }); err != nil {
			return
		}
		n, events := 1, slices.Clone(g.in.Pending[0].Events)
		for n < len(g.in.Pending) && g.in.Pending[n].OperationID == g.in.Pending[0].OperationID {
			events = append(events, g.in.Pending[n].Events...)
			n++
		}
		m := g.meta
		m.OperationID = g.in.Pending[0].OperationID
		opts := activityOptions("record "+strings.Join(flow.Dedupe(eventTypes(events)), ", "), time.Minute)
		opts.RetryPolicy.MaximumAttempts = 0 // for as long as the database refuses
		actx := operation.WithMeta(workflow.WithActivityOptions(ctx, opts), m)
		if err := workflow.ExecuteActivity(actx, flow.AuditActs.RecordEvents, auditlog.RecordInput{Events: events}).Get(actx, nil); err != nil {
			if ctx.Err() == nil {
				g.recordErr = err
			}
			return
		}
		g.in.Pending = g.in.Pending[n:]
		g.publish()
	}
}

// health is the guardian's health with its pending events counted.
func (g *guardianRun) health() GuardianHealth {
	h := g.in.Health
	h.RecoverAttempts, h.NextRecovery = g.in.RecoverAttempts, time.Time{}
	if h.RecoverAttempts > 0 {
		h.NextRecovery = g.in.RecoverNotBefore
	}
	// A primary that refuses writes leaves Redis' and Kubernetes' view
	// whole (the assessment says Healthy) while its shard takes no write.
	if len(h.WritesRefused) > 0 {
		h.State = guard.StateDegraded
		h.Reasons = slices.Clone(h.Reasons)
		for _, r := range h.WritesRefused {
			h.Reasons = append(h.Reasons, r.String())
		}
	}
	h.PendingEvents = 0
	for _, p := range g.in.Pending {
		h.PendingEvents += len(p.Events)
	}
	return h
}

// publish mirrors the health into the workflow's details (Temporal UI).
func (g *guardianRun) publish() {
	h := g.health()
	var b strings.Builder
	fmt.Fprintf(&b, "**guardian** %s/%s: %s, %d/%d instances ready\n\n", g.in.Namespace, g.in.Cluster, orUnknown(h.State), h.Ready, h.Desired)
	for _, r := range h.Reasons {
		fmt.Fprintf(&b, "- %s\n", r)
	}
	fmt.Fprintf(&b, "\nFailovers seen: %d, fenced restarts: %d, recoveries started: %d", h.Failovers, h.Fences, h.Recoveries)
	if h.LastRecovery != "" {
		fmt.Fprintf(&b, " (last %s)", h.LastRecovery)
	}
	if h.RecoverAttempts > 1 {
		fmt.Fprintf(&b, "\n\nRecovers started for the same losses: %d; the next not before %s", h.RecoverAttempts,
			h.NextRecovery.UTC().Format(time.RFC3339))
	}
	if h.PendingEvents > 0 {
		fmt.Fprintf(&b, "\n\nAudit events waiting for the database: %d", h.PendingEvents)
	}
	fmt.Fprintf(&b, "\n\nCost so far: %d observations, %d Redis commands\n", h.Observations, h.RedisCommands)
	workflow.SetCurrentDetails(g.ctx, b.String())
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

func fingerprint(h GuardianHealth) string {
	return guard.Assessment{State: h.State, Reasons: h.Reasons, Primaries: h.Primaries}.Fingerprint()
}

func eventTypes(events []auditlog.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

func eventNames(events []audit.Payload) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventType()
	}
	return out
}

func recordInput(events []audit.Payload) auditlog.RecordInput {
	in := auditlog.RecordInput{}
	for _, e := range events {
		in.Events = append(in.Events, auditlog.NewEvent(e))
	}
	return in
}
