package eventstore

import "github.com/dayops/dayops/internal/eventstore/signing"

// Checkpoints' signatures and keys are package signing's; the store writes
// and reads the checkpoints. These names keep the store's callers as they
// were.
type (
	Checkpoint = signing.Checkpoint
	Signer     = signing.Signer
)

const (
	CheckpointFormat = signing.CheckpointFormat
	EnvSigningKey    = signing.EnvSigningKey
	PrivateKeyFile   = signing.PrivateKeyFile
	PublicKeyFile    = signing.PublicKeyFile
)

var (
	CheckpointMessage = signing.CheckpointMessage
	KeyID             = signing.KeyID
	NewSigner         = signing.NewSigner
	VerifyCheckpoint  = signing.VerifyCheckpoint
	GenerateKey       = signing.GenerateKey
	MarshalPublicKey  = signing.MarshalPublicKey
	ParsePrivateKey   = signing.ParsePrivateKey
	ParsePublicKey    = signing.ParsePublicKey
	LoadKeyFile       = signing.LoadKeyFile
	LoadSigner        = signing.LoadSigner
	EnsureKeyPair     = signing.EnsureKeyPair
)
