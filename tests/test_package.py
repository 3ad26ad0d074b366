import subprocess
import sys


def test_import_does_not_load_tensorflow():
    code = "import sys, hyperperturb as hp; assert hp.__version__; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False False"


def test_namespaces_exposed():
    import hyperperturb as hp

    for ns in ("pp", "tl", "pl", "get", "datasets"):
        assert hasattr(hp, ns)
    assert isinstance(hp.__version__, str)


def test_pp_get_datasets_do_not_import_nn():
    code = (
        "import sys, hyperperturb.pp, hyperperturb.get, hyperperturb.datasets;"
        "print(any(m.startswith('hyperperturb.nn') or m == 'tensorflow' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
