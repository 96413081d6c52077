#!/usr/bin/env python3
"""A Dualign trainer for a real model: TRL's DPOTrainer with a PEFT LoRA adapter.

Consumes FineTuneRequests on <prefix>control, trains an adapter on the dataset each one names and
answers with a CheckpointEvent on <prefix>checkpoints naming that adapter, for the gateway to load
into vLLM or SGLang. See README.md. Python 3.9+; needs confluent-kafka, and for real training trl,
peft, transformers and datasets (imported only when training, so --stub-training runs without them).
"""
import argparse
import hashlib
import json
import logging
import math
import os
import random
import re
import shutil
import sys
import time
import urllib.parse
import urllib.request

log = logging.getLogger("trl-dpo")

ADAPTER_PREFIX = "dualign-v"


class Refused(Exception):
    """A request this trainer will not train on; the reason is logged and nothing is published."""


# ---------------------------------------------------------------------------------------------
# The dataset: checked against the request, then seen as DPO pairs


def local_path(uri):
    """The local file a dataset URI names: a plain path or a file:// URI (shared storage is mounted there)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise Refused(f"dataset {uri}: a file URI on host {parsed.netloc!r}; mount it and name the local path")
        return urllib.request.url2pathname(parsed.path)
    if parsed.scheme == "":
        return uri
    raise Refused(f"dataset {uri}: scheme {parsed.scheme!r} is not read here; mount or sync the storage to a local path")


def read_dataset(named):
    """The lines of the file the request's `dataset` names, after checking its digest and line count."""
    path = local_path(named["uri"])
    if not os.path.isfile(path):
        raise Refused(f"dataset {named['uri']}: no file at {path}")
    with open(path, "rb") as f:
        data = f.read()  # hashed and parsed from the same bytes
    actual = hashlib.sha256(data).hexdigest()
    if actual != named["sha256"]:
        raise Refused(f"dataset {path}: sha256 is {actual} but the request names {named['sha256']}: "
                      "the file changed or is another one; refusing to train on it")
    lines = data.decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()  # each line ends in a newline
    if len(lines) != named["records"]:
        raise Refused(f"dataset {path}: {len(lines)} records, the request names {named['records']}")
    return [json.loads(line) for line in lines]


def sigmoid(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def assistant(response):
    m = {"role": "assistant", "content": response["text"]}
    if response.get("toolCalls"):
        m["tool_calls"] = response["toolCalls"]
    return [m]


def dpo_pairs(records, request, pairing):
    """The DPO pairs of dualign-policy-v1 records (docs/events.md, the DPO view): within each prompt's K,
    the higher score is chosen and p_chosen = σ((s_chosen − s_rejected)/β), the record's β."""
    pairs = []
    for n, r in enumerate(records, 1):
        for key in ("promptId", "messages", "lambda", "beta", "responses"):
            if key not in r:
                raise Refused(f"dataset line {n}: field '{key}' is required")
        if request.get("beta") is not None and not math.isclose(r["beta"], request["beta"], rel_tol=1e-9):
            raise Refused(f"dataset line {n}: β {r['beta']} but the request trains at β {request['beta']}")
        if set(r["lambda"]) != set(request["lambda"]) or any(
                not math.isclose(v, request["lambda"][k], rel_tol=1e-9, abs_tol=1e-12) for k, v in r["lambda"].items()):
            raise Refused(f"dataset line {n}: scored at λ {r['lambda']} but the request trains at λ {request['lambda']}")
        k = r["responses"]
        if pairing == "all":
            ij = [(i, j) for i in range(len(k)) for j in range(i + 1, len(k))]
        else:  # disjoint: the K shuffled (seeded by request and prompt), taken two by two
            order = list(range(len(k)))
            random.Random(f"{request['requestId']}/{r['promptId']}").shuffle(order)
            ij = list(zip(order[0::2], order[1::2]))
        for i, j in ij:
            a, b = k[i], k[j]
            if a["text"] == b["text"] and a.get("toolCalls") == b.get("toolCalls"):
                continue  # the same answer: no preference to learn
            chosen, rejected = (b, a) if b["score"] > a["score"] else (a, b)
            pairs.append({"prompt_id": r["promptId"], "prompt": r["messages"], "chosen": assistant(chosen),
                          "rejected": assistant(rejected), "score_chosen": chosen["score"],
                          "score_rejected": rejected["score"],
                          "p_chosen": sigmoid((chosen["score"] - rejected["score"]) / r["beta"])})
    return pairs


def draw_labels(pairs, seed, epochs):
    """Hard labels for a trainer without soft ones: per epoch, each pair kept as written with probability
    p_chosen, else swapped, so the expected DPO loss is the soft-label one. Seeded: the same request draws
    the same labels. Returns `epochs` fresh draws, one after the other (train them as one epoch)."""
    rng = random.Random(f"labels/{seed}")
    rows = []
    for _ in range(epochs):
        for p in pairs:
            swap = rng.random() >= p["p_chosen"]
            rows.append({"prompt_id": p["prompt_id"], "prompt": p["prompt"],
                         "chosen": p["rejected"] if swap else p["chosen"],
                         "rejected": p["chosen"] if swap else p["rejected"],
                         "p_chosen": p["p_chosen"], "swapped": swap})
    return rows


# ---------------------------------------------------------------------------------------------
# Training: the real one (TRL, lazily imported) and the stub the CI test uses


def train(rows, adapter_dir, args):
    """DPO with a LoRA adapter on --base-model; saves the adapter (adapter_config.json and weights)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(args.base_model)
    model = AutoModelForCausalLM.from_pretrained(args.base_model, torch_dtype="auto")
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    config = DPOConfig(
        output_dir=adapter_dir + ".work",
        beta=1.0,  # β is already inside p_chosen = σ(Δs/β): DPO's own β must not apply it again
        num_train_epochs=1,  # rows hold --epochs fresh label draws
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        seed=args.seed,
        save_strategy="no",
        report_to="none",
        logging_steps=10)
    lora = LoraConfig(r=args.lora_rank, lora_alpha=2 * args.lora_rank, lora_dropout=0.05,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer, peft_config=lora)
    result = trainer.train()
    trainer.model.save_pretrained(adapter_dir)
    shutil.rmtree(adapter_dir + ".work", ignore_errors=True)
    return {"loss": float(result.training_loss)}


def stub_train(rows, adapter_dir, args):
    """STUB, not training: writes a placeholder adapter (and the rows a real run would train on)."""
    os.makedirs(adapter_dir)
    with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": args.lora_rank, "base_model_name_or_path": args.base_model,
                   "dualign_stub": "placeholder written by stub_train: no weights were trained"}, f, indent=1)
    with open(os.path.join(adapter_dir, "train-rows.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return {"stub": 1.0}


# ---------------------------------------------------------------------------------------------
# Adapters on disk: versions, checksums, the answers already given


def adapter_sha256(directory):
    """The adapter's checksum: SHA-256 over its regular files sorted by path relative to the directory
    ('/'-separated, compared as strings); for each, the path in UTF-8, a NUL byte, the size in decimal
    ASCII, a NUL byte, then its bytes."""
    files = []
    for root, _, names in os.walk(directory):
        for name in names:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                files.append((os.path.relpath(full, directory).replace(os.sep, "/"), full))
    h = hashlib.sha256()
    for rel, full in sorted(files):
        with open(full, "rb") as f:
            data = f.read()
        h.update(rel.encode("utf-8") + b"\0" + str(len(data)).encode("ascii") + b"\0" + data)
    return h.hexdigest()


def next_version(request, out_dir, min_version):
    """baseVersion + 1, but never a version this trainer wrote before: a retried request has a new id and
    the same base, and an adapter name must never be reused."""
    taken = [int(m.group(1)) for m in (re.fullmatch(ADAPTER_PREFIX + r"(\d+)", n) for n in os.listdir(out_dir)) if m]
    return max([min_version, request["baseVersion"] + 1] + [v + 1 for v in taken])


def answer_file(out_dir, request_id):
    return os.path.join(out_dir, "answers", hashlib.sha256(request_id.encode("utf-8")).hexdigest() + ".json")


def write_atomically(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def training_pairs(request, pairing):
    """The DPO pairs of the dataset the request names; Refused if it names none, or not the right one."""
    named = request.get("dataset")
    if not named:
        raise Refused("the request names no dataset (this trainer reads only the dataset a request names)")
    try:
        lines = read_dataset(named)
        if named["format"] == "dualign-policy-v1":
            pairs = dpo_pairs(lines, request, pairing)
        elif named["format"] == "trl-dpo-conversational":
            pairs = [{k: p[k] for k in ("prompt_id", "prompt", "chosen", "rejected", "p_chosen")} for p in lines]
        else:
            raise Refused(f"dataset format {named['format']!r} is not one this trainer reads")
    except (KeyError, TypeError, ValueError) as e:
        raise Refused(f"dataset {named.get('uri')}: not a valid {named.get('format')} file: {e!r}") from e
    if not pairs:
        raise Refused(f"dataset {named['uri']}: no pair to train on")
    return pairs


def answer(request, args, training):
    """The CheckpointEvent answering the request (as bytes): from disk if this request was answered before,
    else after training a new adapter."""
    rid = request["requestId"]
    done = answer_file(args.out_dir, rid)
    if os.path.exists(done):
        log.info("request %s was answered before: re-publishing that answer, not training again", rid)
        with open(done, "rb") as f:
            return f.read()
    pairs = training_pairs(request, args.pairs)
    rows = draw_labels(pairs, rid, args.epochs)
    version = next_version(request, args.out_dir, args.min_version)
    name = f"{ADAPTER_PREFIX}{version}"
    final = os.path.join(args.out_dir, name)
    partial = os.path.join(args.out_dir, ".partial-" + name)
    shutil.rmtree(partial, ignore_errors=True)
    log.info("request %s: %d pairs (%d label draws swapped) -> %s", rid, len(pairs),
             sum(r["swapped"] for r in rows), name)
    metrics = training(rows, partial, args)
    if not all(math.isfinite(v) for v in metrics.values()):
        shutil.rmtree(partial, ignore_errors=True)
        raise Refused(f"training diverged ({metrics}): no adapter")
    os.rename(partial, final)  # whole or not at all
    metrics.update({"pairs": float(len(pairs)), "prompts": float(len({p["prompt_id"] for p in pairs})),
                    "swapped": float(sum(r["swapped"] for r in rows))})
    event = {"schema": 1, "version": version, "path": f"policy/{version}", "sha256": adapter_sha256(final),
             "lambda": request["lambda"], "parentVersion": request["baseVersion"], "metrics": metrics,
             "timestamp": int(time.time() * 1000), "requestId": rid,
             "external": {"adapter": name, "path": os.path.join(args.serve_dir or os.path.abspath(args.out_dir), name)}}
    data = json.dumps(event, separators=(",", ":")).encode("utf-8")
    write_atomically(done, data)
    return data


# ---------------------------------------------------------------------------------------------
# The Kafka loop: at least once (the offset is committed only after the answer is published)


def parse_request(value):
    try:
        request = json.loads(value)
    except ValueError as e:
        raise Refused(f"not JSON: {e}") from e
    if not isinstance(request, dict):
        raise Refused("not a JSON object")
    for key, kind in (("requestId", str), ("lambda", dict), ("baseVersion", int)):
        if not isinstance(request.get(key), kind) or request[key] == "":
            raise Refused(f"not a FineTuneRequest: field '{key}' must be a {kind.__name__}")
    return request


def publish(producer, topic, data):
    event = json.loads(data)
    errors = []
    producer.produce(topic, key=str(event["version"]).encode("utf-8"), value=data,
                     on_delivery=lambda err, msg: errors.append(err))
    if producer.flush(30) > 0 or errors != [None]:
        raise RuntimeError(f"publishing to {topic} failed: {errors or 'not delivered within 30 s'}")
    log.info("published version %s (adapter %s) answering %s on %s", event["version"],
             event["external"]["adapter"], event["requestId"], topic)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers")
    p.add_argument("--prefix", default="dualign.", help="topic prefix (topics <prefix>control, <prefix>checkpoints)")
    p.add_argument("--group-id", default="dualign-trl-dpo", help="Kafka consumer group")
    p.add_argument("--out-dir", required=True, help="where adapters are written (one trainer per directory)")
    p.add_argument("--serve-dir", help="the same directory as the inference server sees it (default: --out-dir)")
    p.add_argument("--base-model", help="the model the upstream serves, e.g. Qwen/Qwen2.5-7B-Instruct (the reference)")
    p.add_argument("--min-version", type=int, default=1, help="lowest version number to give an adapter")
    p.add_argument("--pairs", choices=("disjoint", "all"), default="disjoint", help="pairs within each prompt's K")
    p.add_argument("--epochs", type=int, default=1, help="epochs, each with a fresh draw of the labels")
    p.add_argument("--learning-rate", type=float, default=5e-6)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=4)
    p.add_argument("--lora-rank", type=int, default=16, help="at most vLLM's --max-lora-rank")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stub-training", action="store_true", help="STUB: write a placeholder adapter, train nothing")
    p.add_argument("--max-requests", type=int, help="exit after handling this many requests")
    p.add_argument("--once", action="store_const", const=1, dest="max_requests",
                   help="handle one request, then exit (status 2 if it was refused)")
    p.add_argument("--timeout", type=float, help="exit with status 3 after this many seconds without a request")
    args = p.parse_args(argv)
    if not args.base_model and not args.stub_training:
        p.error("--base-model is required (unless --stub-training)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from confluent_kafka import Consumer, Producer

    os.makedirs(args.out_dir, exist_ok=True)
    training = stub_train if args.stub_training else train
    if args.stub_training:
        log.warning("--stub-training: adapters are placeholders from stub_train, not trained weights")
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group_id,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "max.poll.interval.ms": 86400000})  # training takes long: stay in the group
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "enable.idempotence": True})
    consumer.subscribe([args.prefix + "control"])
    handled, refused, idle_since = 0, 0, time.monotonic()
    try:
        while args.max_requests is None or handled < args.max_requests:
            msg = consumer.poll(1.0)
            if msg is None:
                if args.timeout is not None and time.monotonic() - idle_since > args.timeout:
                    log.error("no request within %.0f s: giving up", args.timeout)
                    return 3
                continue
            if msg.error():
                log.warning("kafka: %s", msg.error())
                continue
            try:
                publish(producer, args.prefix + "checkpoints", answer(parse_request(msg.value()), args, training))
            except Refused as e:
                refused += 1
                log.error("refused request at %s[%d]@%d: %s; nothing published", msg.topic(), msg.partition(),
                          msg.offset(), e)
            consumer.commit(message=msg, asynchronous=False)  # after publishing: at least once
            handled += 1
            idle_since = time.monotonic()
    finally:
        consumer.close()
    return 2 if args.max_requests == 1 and refused else 0


if __name__ == "__main__":
    sys.exit(main())
