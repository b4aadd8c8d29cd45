"""The app as a user runs it, to be killed with SIGKILL mid-job by tests/test_queue_resume.py.

``python tests/queue_child.py MODEL_DIR JOBS``: opens the real main window (offscreen, in
$EASEL_HOME), queues JOBS jobs from the Generate tab, and prints ``running <job> <step>``
when the first one has made a step; the engine thread then holds at that step until killed,
so the kill always lands mid-job.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import Qt, QTimer

from app.ui.main import create_application
from app.ui.main_window import MainWindow


def main() -> int:
    model, jobs = sys.argv[1], int(sys.argv[2])
    app = create_application([])
    window = MainWindow(model_path=model)
    window.show()
    hold = threading.Event()

    def mid_job(job_id: int, step: int, _total: int, _elapsed: float) -> None:
        print(f"running {job_id} {step}", flush=True)
        hold.wait()  # in the engine thread: this job never finishes before the kill

    window.worker._loop.progress.connect(mid_job, Qt.ConnectionType.DirectConnection)

    def queue() -> None:
        window.prompt_panel.prompt.setPlainText("a lighthouse in a storm")
        panel = window.settings_panel
        panel.steps.setValue(3)
        panel.width_spin.setValue(64)
        panel.height_spin.setValue(64)
        panel.seed.setValue(7)
        panel.batch_size.setValue(1)
        panel.batch_count.setValue(jobs)
        ids = window.generate()
        print(f"queued {len(ids)}", flush=True)
        window.start_engine()

    QTimer.singleShot(0, queue)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
