#!/usr/bin/env python3
"""Writes docker/grafana/dualign.json, the Grafana dashboard of the loop (Prometheus data source).

    python3 docker/grafana/make_dashboard.py

Panels read the job's metrics (Flink's Prometheus reporter, flink_taskmanager_job_task_operator_*) and
the policy server's and fine-tuner's (/metrics, dualign_*). Import it in Grafana and pick the data source.
"""
import json
import os

OP = 'flink_taskmanager_job_task_operator_'
panels = []


def panel(title, targets, unit='short', kind='timeseries', w=12, h=8, description=''):
    n = len(panels)
    panels.append({
        'id': n + 1, 'type': kind, 'title': title, 'description': description,
        'datasource': {'type': 'prometheus', 'uid': '${datasource}'},
        'gridPos': {'x': (n % 2) * 12 if w == 12 else 0, 'y': (n // 2) * h, 'w': w, 'h': h},
        'fieldConfig': {'defaults': {'unit': unit}, 'overrides': []},
        'options': {'legend': {'displayMode': 'list', 'placement': 'bottom'}},
        'targets': [{'refId': chr(65 + i), 'expr': e, 'legendFormat': l} for i, (e, l) in enumerate(targets)],
    })


panel('λ per constraint', [('max by (constraint) (%sconstraint_lambda)' % OP, '{{constraint}}'),
                           ('max by (constraint) (%sconstraint_atLambdaMax)' % OP, 'at λ_max: {{constraint}}')],
      description='The Lagrange multiplier the job publishes; "at λ_max" is 1 while λ sits at its bound.')
panel('Estimate per version (mean and anytime-valid band)', [
    ('max by (version, estimate) (%sversion_estimate_mean{estimate!~"reward|kl"})' % OP, 'v{{version}} {{estimate}}'),
    ('max by (version, estimate) (%sversion_estimate_lo{estimate!~"reward|kl"})' % OP, 'v{{version}} {{estimate}} lo'),
    ('max by (version, estimate) (%sversion_estimate_hi{estimate!~"reward|kl"})' % OP, 'v{{version}} {{estimate}} hi')],
      description='The display interval at dual.confidence (kind per dual.interval); decisions read the anytime-valid bound.')
panel('Versions violating a margin', [('max by (version, estimate) (%sversion_estimate_violating)' % OP,
                                       'v{{version}} {{estimate}}')],
      description='1 while a version\'s anytime-valid bound is wholly below its margin.')
panel('Dual steps per 10 minutes', [('sum(increase(%sdualSteps[10m]))' % OP, 'steps')])
panel('Dead letters per second', [('sum(rate(%sdeadLetters[5m]))' % OP, 'job'),
                                  ('sum by (component) (rate(dualign_dead_letters_total[5m]))', '{{component}}')], unit='reqps')
panel('Scored per second', [('sum(rate(%sscoredRecords[1m]))' % OP, 'scored')], unit='reqps')
panel('Chat requests by outcome', [('sum by (outcome) (rate(dualign_chat_requests_total[1m]))', '{{outcome}}'),
                                   ('sum(rate(dualign_kafka_prompts_answered_total[1m]))', 'Kafka prompts')], unit='reqps')
panel('Chat latency', [('histogram_quantile(0.5, sum by (le) (rate(dualign_chat_latency_seconds_bucket[5m])))', 'p50'),
                       ('histogram_quantile(0.99, sum by (le) (rate(dualign_chat_latency_seconds_bucket[5m])))', 'p99')],
      unit='s')
panel('Serving: versions and canary share', [('max by (slot) (dualign_serving_version)', '{{slot}} version'),
                                             ('max(dualign_canary_share)', 'canary share')])
panel('Answers per version per second', [('sum by (version) (rate(dualign_answers_total[1m]))', 'v{{version}}')],
      unit='reqps')
panel('Fine-tuner', [('max by (state) (dualign_finetune_state)', '{{state}}'),
                     ('sum by (outcome) (increase(dualign_finetune_runs_total[10m]))', 'runs per 10 min: {{outcome}}')])
panel('Health', [('min by (component, instance) (dualign_healthy)', '{{component}} {{instance}}'),
                 ('sum by (component) (increase(dualign_session_failures_total[10m]))', 'session failures: {{component}}')])

dashboard = {
    'title': 'Dualign', 'uid': 'dualign', 'schemaVersion': 39, 'version': 1, 'editable': True,
    'time': {'from': 'now-1h', 'to': 'now'}, 'refresh': '10s', 'tags': ['dualign'],
    'templating': {'list': [{'name': 'datasource', 'type': 'datasource', 'query': 'prometheus', 'label': 'Prometheus'}]},
    'panels': panels,
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'dualign.json')
with open(out, 'w') as f:
    json.dump(dashboard, f, indent=2, ensure_ascii=False)
    f.write('\n')
print(out)
