"""``nudge bench``: what nudge costs per event, measured on a synthetic shop run through the real handlers.

Five measurements, one report (stdout, and ``docs/PERFORMANCE.md`` with the command that produced it):

1. **The pipeline.** A month of a synthetic shop's Segment traffic and its catalogue feed (:mod:`infra.bench.shop`)
   goes through ``nudge simulate``'s engine: the real handlers and adapters against the embedded emulator, in
   virtual time, with virtual timers and the fan-out state machine in virtual time. An
   :class:`~infra.metering.ApiCallMeter` on every client the functions use counts each AWS call by the function
   that made it, with the item sizes behind DynamoDB write units and the payload sizes behind SQS requests.
   What the emulation does not make itself is added from the model of what AWS does: one Step Functions execution
   per execution name the updater starts (the virtual timers count them, and the wake-ups each carries), its state
   transitions (:func:`timer_transitions`) and the SQS ``SendMessage`` it makes at each wake-up.
2. **Cost.** The counts at AWS list price (:data:`PRICES`, from the project's conventions), per 1 million events,
   next to Amazon Pinpoint's price for the same volume, and the timers priced as EventBridge Scheduler one-time
   schedules instead (one per wake-up).
3. **The pure decision core.** ``decide`` over the same kind of traffic in memory: events per second on one core.
4. **Cold imports.** Each function's handler module imported by a fresh interpreter, against ``import boto3``, with
   the bytecode compiled beforehand and from source, interleaved in one run (:mod:`~infra.bench.imports`).
5. **One maximal batch.** 2,500 events in one ``/v1/batch`` through the real ingest handler on the local stack, and
   its model against the ingest function's timeout in AWS (:mod:`infra.bench.batch`).

What is counted, and why (docs/PERFORMANCE.md says the same):

- Calls made by a function's handler are the function's. Calls Lambda's SQS event source makes for it (one
  ``ReceiveMessage`` per batch, one ``DeleteMessageBatch`` per settled batch) are billed to the account as SQS
  requests, so they are counted too, separately. The SNS-to-Lambda delivery of the feedback topic is emulated
  through a queue the local stack subscribes; AWS does not bill that queue, so its calls are left out.
- Calls the harness makes (provisioning, reading the send ledger for the report, putting due timers into the queue
  in place of the state machine) are not counted; the state machine's ``SendMessage`` is added per wake-up.
- Lambda duration is modelled, not taken from the emulator: the handler's own compute (wall time inside the handler
  minus time inside AWS calls, measured) scaled to the function's CPU share (:data:`LAMBDA_FULL_CPU_MB`), plus an
  assumed in-region latency per AWS call (:data:`CALL_LATENCY_MS`).

The modules: :mod:`~infra.bench.shop` (the synthetic traffic), :mod:`~infra.bench.pricing` (the prices, the assumed
latencies and the cost arithmetic), :mod:`~infra.bench.pipeline` (the metered run and its figures),
:mod:`~infra.bench.core`, :mod:`~infra.bench.imports`, :mod:`~infra.bench.batch`, :mod:`~infra.bench.report` (tables
and markdown) and :mod:`~infra.bench.cli` (the command).
"""
