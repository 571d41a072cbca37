"""What a call raises, for tests that compare the engine's error with torch's on the same call."""


def raised(call, library) -> Exception:
    """The exception call(library) raises (tinygrad_opt or torch as library); fails the test if none."""
    try:
        call(library)
    except Exception as err:  # noqa: BLE001 - the caller compares what each library raises
        return err
    raise AssertionError("no error raised")
