/// The program a warm interpreter runs (`python OPTIONS -c SOURCE PRELOAD…`): it imports the preload modules,
/// writes one byte on stdin (a socket: the agent then counts it ready), reads one `WarmLaunch` line there (end of file: it is not needed, exit 0), points stdin at /dev/null, takes
/// the launch's environment and working directory, and runs the script or module as `__main__` with the
/// launch's `sys.argv` and `sys.path[0]` — what `python SCRIPT ARGS…` would have given it. Its exit status is
/// the script's.
enum WarmBootstrap {
    static let source = #"""
import sys
def _ringmaster_warm():
    import importlib, json, os
    for name in sys.argv[1:]:
        importlib.import_module(name)
    try:
        os.write(0, b"r")
    except OSError:
        pass  # taken for a launch before it was ready: the agent wrote the launch and closed its end
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return None
    launch = json.loads(line)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.clear()
    os.environ.update(launch["env"])
    if launch.get("cwd"):
        os.chdir(launch["cwd"])
    return launch["program"]
_program = _ringmaster_warm()
del _ringmaster_warm
if _program is None:
    sys.exit(0)
import os as _os
if _program[0] == "-m":
    import runpy as _runpy
    sys.argv = [_program[1]] + _program[2:]
    sys.path[0] = _os.getcwd()
    _runpy.run_module(_program[1], run_name="__main__", alter_sys=True)
else:
    # Not runpy.run_path: it would set sys.argv[0] to the absolute path, which a fresh start keeps as given.
    import importlib.machinery as _machinery, types as _types
    _path = _os.path.abspath(_program[0])
    sys.argv = list(_program)
    sys.path[0] = _os.path.dirname(_os.path.realpath(_path))
    _main = _types.ModuleType("__main__")
    _main.__file__ = _path
    _main.__loader__ = _machinery.SourceFileLoader("__main__", _path)
    _main.__builtins__ = __builtins__
    sys.modules["__main__"] = _main
    with open(_path, "rb") as _source:
        _code = compile(_source.read(), _path, "exec")
    del _source, _machinery, _types, _path
    exec(_code, _main.__dict__)
"""#
}
