"""README's main command (the demo) runs and learns."""
from tinygrad_opt import demo


def test_demo_fits_the_spirals(capsys):
    accuracy = demo.main(steps=1500)
    assert accuracy > 0.95
    assert "loss" in capsys.readouterr().out
