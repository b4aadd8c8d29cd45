"""``python -m app serve --ray``: the same API on Ray Serve, one engine replica per GPU (or N
CPU replicas), requests balanced across them.

Two deployments and one small actor:

- ``EaselIngress`` serves the very app ``create_app`` builds for one machine (the same routes,
  the same ``Guard`` for credentials and body limits, the same CORS rule). Its runner is a
  ``ClusterRunner``: the ``EngineRunner`` interface, but each job goes through a Ray Serve
  handle to an engine replica instead of into a local thread.
- ``EngineReplica`` runs the existing ``EngineRunner`` (the window's ``Engine`` and queue) on
  one GPU or one CPU. ``max_ongoing_requests=1``: a replica takes its next job only when the
  last one is done, so Ray's router gives each job to a free replica.
- ``ProgressBoard`` (an actor, no CPU) holds the live state of every running job, reported by
  the replicas at each step; ``/progress`` reads it, and interrupt/skip/cancel leave a flag on
  it that the replica picks up at its next step.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray
from ray import serve

from app.errors import Cancelled
from app.server.runner import EngineRunner, JobOutcome, ModelChoice, RunState, settle

if TYPE_CHECKING:
    from app.engine.engine import Progress
    from app.request import GenerationRequest
    from app.server.api import ServerSettings
    from app.server.runner import ServerJob

BOARD_NAME = "easel-progress"
BOARD_NAMESPACE = "easel"


@ray.remote(num_cpus=0)
class ProgressBoard:
    """Live state per running job (ingress job ids), and the flags waiting for each."""

    def __init__(self) -> None:
        self.running: dict[int, dict[str, Any]] = {}
        self.flags: dict[int, str] = {}
        self.served_by: dict[int, str] = {}  # job id -> the replica that ran it (bounded)

    def report(self, job_id: int, state: dict[str, Any], replica: str) -> str:
        self.running[job_id] = state
        self.served_by[job_id] = replica
        while len(self.served_by) > 1000:
            self.served_by.pop(next(iter(self.served_by)))
        return self.flags.get(job_id, "")

    def finish(self, job_id: int) -> None:
        self.running.pop(job_id, None)
        self.flags.pop(job_id, None)

    def flag(self, job_id: int | None, what: str) -> None:
        """Flag one job, or every running job when ``job_id`` is None."""
        for jid in [job_id] if job_id is not None else list(self.running):
            self.flags[jid] = what

    def snapshot(self) -> dict[int, dict[str, Any]]:
        return dict(self.running)

    def replicas(self) -> dict[int, str]:
        return dict(self.served_by)


def _state_dict(state: RunState) -> dict[str, Any]:
    return dict(state.__dict__)


class ReplicaRunner(EngineRunner):
    """The one-machine runner, reporting each step to the board and obeying its flags."""

    def __init__(self, *args: Any, replica: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replica = replica
        self.jobs: dict[int, tuple[int, Any]] = {}  # local job id -> (ingress id, board)

    def report(self, job: ServerJob) -> None:
        gid, board = self.jobs.get(job.id, (None, None))
        if board is None:
            return
        state, _ = self.snapshot()
        what = ray.get(board.report.remote(gid, _state_dict(state), self.replica))
        if what == "interrupt":
            self.interrupt()
        elif what == "skip":
            self.skip()
            board.flag.remote(gid, "")
        elif what == "cancel":
            self.cancel(job)

    def _progress(self, job: ServerJob, p: Progress) -> None:
        super()._progress(job, p)
        self.report(job)


@serve.deployment(max_ongoing_requests=1)
class EngineReplica:
    """One engine on one GPU (or CPU), running the existing ``EngineRunner``."""

    def __init__(self, model: ModelChoice | None, device: str = "auto", gallery: bool = True):
        import torch

        from app.engine.device import detect_device
        from app.engine.engine import Engine

        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 0))
        if cpus >= 1:  # the cores Ray gave this replica, no more (replicas share a machine)
            torch.set_num_threads(cpus)
        engine = Engine(detect_device(None if device == "auto" else device))
        if model is not None:
            engine.load(model.path, name=model.name, model_hash=model.hash)
        factory = None
        if gallery:
            from app.library.gallery import Gallery

            factory = Gallery
        tag = f"{os.uname().nodename}:{os.getpid()}"
        self.runner = ReplicaRunner(engine, gallery_factory=factory, current=model, replica=tag)
        self.runner.start()

    async def run(
        self,
        job_id: int,
        request: GenerationRequest,
        n_iter: int,
        model: ModelChoice | None,
        finish: Any,
        board: Any,
    ) -> JobOutcome:
        job = self.runner.submit(request, n_iter=n_iter, model=model, finish=finish)
        self.runner.jobs[job.id] = (job_id, board)
        try:
            await asyncio.to_thread(self.runner.report, job)  # visible before its first step
            return await asyncio.wrap_future(job.future)
        finally:
            self.runner.jobs.pop(job.id, None)
            board.finish.remote(job_id)

    async def load(self, model: ModelChoice) -> ModelChoice:
        return await asyncio.wrap_future(self.runner.load(model))

    def __del__(self) -> None:
        self.runner.stop(5.0)


@dataclass
class ClusterJob:
    id: int
    future: Future = field(default_factory=Future)
    response: Any = None


class _ClusterEngine:
    """What the routes ask of ``runner.engine``: whether a model is there to run."""

    def __init__(self, runner: ClusterRunner) -> None:
        self._runner = runner

    @property
    def loaded(self) -> bool:
        return self._runner.current_model is not None


class ClusterRunner:
    """``EngineRunner``'s interface for the routes, over an ``EngineReplica`` handle."""

    def __init__(self, engines: Any, board: Any, current: ModelChoice | None) -> None:
        self.engines = engines
        self.board = board
        self.current_model = current
        self.engine = _ClusterEngine(self)
        self._ids = itertools.count(1)
        self._waiting: set[int] = set()  # submitted, not yet answered

    def _forward(self, response: Any, future: Future, on_done: Any = None) -> None:
        async def wait() -> None:
            try:
                result = await response
            except ray.exceptions.RayTaskError as exc:  # the replica's own error, unwrapped
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                settle(future, exc=cause)
            except asyncio.CancelledError:
                settle(future, exc=Cancelled("The client went away; the job was dropped."))
            except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                settle(future, exc=exc)
            else:
                settle(future, result=result)
            finally:
                if on_done is not None:
                    on_done()

        asyncio.get_running_loop().create_task(wait())

    def submit(
        self,
        request: GenerationRequest,
        n_iter: int = 1,
        model: ModelChoice | None = None,
        finish: Any = None,
    ) -> ClusterJob:
        job = ClusterJob(next(self._ids))
        job.future.set_running_or_notify_cancel()
        model = model or self.current_model
        job.response = self.engines.run.remote(job.id, request, n_iter, model, finish, self.board)
        self._waiting.add(job.id)
        self._forward(job.response, job.future, lambda: self._waiting.discard(job.id))
        return job

    def load(self, model: ModelChoice) -> Future:
        """Load on one replica now (errors reach the caller); the others switch at their next
        job, which carries the model."""
        future: Future = Future()
        future.set_running_or_notify_cancel()

        def done() -> None:
            if future.done() and future.exception() is None:
                self.current_model = model

        self._forward(self.engines.load.remote(model), future, done)
        return future

    def cancel(self, job: ClusterJob) -> None:
        self.board.flag.remote(job.id, "cancel")
        if job.response is not None:
            job.response.cancel()

    def interrupt(self) -> None:
        self.board.flag.remote(None, "interrupt")

    def skip(self) -> None:
        self.board.flag.remote(None, "skip")

    def snapshot(self) -> tuple[RunState, int]:
        """The oldest running job's state, and how many are waiting for a replica."""
        running: dict[int, dict[str, Any]] = ray.get(self.board.snapshot.remote(), timeout=10)
        queued = len(self._waiting - set(running))
        if not running:
            return RunState(), queued
        return RunState(**running[min(running)]), queued


@serve.deployment(max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0})
@serve.ingress()
class EaselIngress:
    """The HTTP front: ``create_app`` on a ``ClusterRunner``."""

    def __init__(self, engines: Any, settings: ServerSettings, model: ModelChoice | None):
        board = ProgressBoard.options(  # type: ignore[attr-defined]
            name=BOARD_NAME, namespace=BOARD_NAMESPACE, get_if_exists=True
        ).remote()
        self.runner = ClusterRunner(engines, board, model)
        self.settings = settings

    def __serve_build_asgi_app__(self) -> Any:
        from app.server.api import create_app

        return create_app(self.runner, self.settings)  # type: ignore[arg-type]


def build_cluster_app(
    model: ModelChoice | None,
    settings: ServerSettings,
    replicas: int,
    gpus: bool,
    device: str = "auto",
    gallery: bool = True,
) -> Any:
    """The Ray Serve application: ``replicas`` engines (one GPU or one CPU each) behind one
    ingress."""
    resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    engines = EngineReplica.options(  # type: ignore[attr-defined]
        num_replicas=replicas, ray_actor_options=resources
    ).bind(model, device, gallery)
    return EaselIngress.bind(engines, settings, model)  # type: ignore[attr-defined]


def plan_replicas(requested: int | None, device: str, cluster_gpus: float) -> tuple[int, bool]:
    """How many replicas and whether each takes a GPU: one per GPU in the cluster unless the
    device is the CPU or a number is given."""
    gpus = device != "cpu" and cluster_gpus >= 1
    if requested is not None:
        return requested, gpus
    return (int(cluster_gpus) if gpus else 1), gpus


def run_cluster(args: argparse.Namespace, settings: ServerSettings) -> int:
    from app.cli_serve import _startup_model

    ray.init(address=os.environ.get("RAY_ADDRESS"))  # the running cluster, else a local one
    replicas, gpus = plan_replicas(
        args.replicas, args.device, ray.cluster_resources().get("GPU", 0)
    )
    model = _startup_model(args.model)
    kind = "GPU" if gpus else "CPU"
    print(f"Starting {replicas} engine replica(s), one {kind} each…", file=sys.stderr, flush=True)
    serve.start(http_options={"host": args.host, "port": args.port})
    app = build_cluster_app(model, settings, replicas, gpus, args.device, not args.no_gallery)
    serve.run(app, name="easel", route_prefix="/")
    print(f"Serving on http://{args.host}:{args.port} (Ctrl+C stops).", file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
