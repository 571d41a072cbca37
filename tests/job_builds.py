"""A stand-in for the background worker that records a team job's compile as handed to it (kernels/job_build.py)."""
from tinygrad_opt.kernels import job_build


def handing_to(build, handed):
    """background.compile_later that records `build`'s compile as handed to the worker (and runs it nowhere);
    every other compile goes on as usual."""
    original = job_build.background.compile_later

    def compile_later(fn, args, kwargs, first=False):
        if fn == build.build_now:
            handed.append(fn)
            return True
        return original(fn, args, kwargs, first=first)
    return compile_later

