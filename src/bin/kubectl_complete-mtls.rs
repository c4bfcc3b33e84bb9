//! `kubectl_complete-mtls`: the shell completion helper kubectl (1.26+) runs for
//! `kubectl mtls <TAB>`. See [`kubectl_mtls::complete`].

fn main() {
    std::process::exit(kubectl_mtls::complete::main());
}
