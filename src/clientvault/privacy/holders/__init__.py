"""Personal-data holders: the registry every table naming a person registers in, with
``check_coverage()`` (``registry``), ready-made row functions (``rows``) and the holders of the
domains at or below ``privacy`` (``core``, ``identity``, ``requests``), each registered on
import."""
