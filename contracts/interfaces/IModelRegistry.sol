// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {VerificationClass} from "../types/AssayTypes.sol";

/// @title IModelRegistry
/// @notice Registry of ONNX models. A model's id is the sha256 of its ONNX file bytes.
interface IModelRegistry {
    /// @notice A registered model.
    struct Model {
        address owner; // receives the per-inference fee
        uint96 fee; // model-owner fee per inference, in token units
        address pendingOwner; // set by transferModel, cleared by acceptModel
        VerificationClass vclass; // how disputes over this model are decided
        bool deprecated; // no new jobs once set
        bytes32 graphRoot; // Merkle root over the canonical node descriptors
        bytes32 weightsRoot; // Merkle root over the initializers' tensor roots
        string[] uris; // where the ONNX file can be fetched (content-addressed: bytes must hash to the id)
    }

    /// @notice Thrown when the model id is zero.
    error ZeroModelId();
    /// @notice Thrown when a model with this id is already registered.
    /// @param modelId the id
    error ModelAlreadyRegistered(bytes32 modelId);
    /// @notice Thrown when no model with this id is registered.
    /// @param modelId the id
    error ModelNotRegistered(bytes32 modelId);
    /// @notice Thrown when the caller is not the model's owner.
    /// @param modelId the model
    /// @param caller who called
    /// @param owner the model's owner
    error NotModelOwner(bytes32 modelId, address caller, address owner);
    /// @notice Thrown when the caller is not the model's pending owner.
    /// @param modelId the model
    /// @param caller who called
    error NotPendingModelOwner(bytes32 modelId, address caller);
    /// @notice Thrown when a model is registered or updated with no URI.
    /// @param modelId the model
    error NoModelURI(bytes32 modelId);
    /// @notice Thrown when more URIs than MAX_URIS are given.
    /// @param count how many were given
    /// @param max the limit
    error TooManyURIs(uint256 count, uint256 max);
    /// @notice Thrown when a model's graph root or weights root is zero.
    /// @param modelId the model
    error ZeroModelRoot(bytes32 modelId);
    /// @notice Thrown when the model is already deprecated.
    /// @param modelId the model
    error ModelAlreadyDeprecated(bytes32 modelId);
    /// @notice Thrown when ownership is transferred to the zero address.
    error ZeroNewOwner();

    /// @notice Emitted when a model is registered.
    /// @param modelId sha256 of the ONNX bytes
    /// @param owner the model owner
    /// @param fee fee per inference
    /// @param vclass verification class
    /// @param graphRoot graph commitment
    /// @param weightsRoot weights commitment
    /// @param uris fetch locations
    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed owner,
        uint96 fee,
        VerificationClass vclass,
        bytes32 graphRoot,
        bytes32 weightsRoot,
        string[] uris
    );
    /// @notice Emitted when a model's URIs change.
    /// @param modelId the model
    /// @param uris the new URIs
    event ModelURIsUpdated(bytes32 indexed modelId, string[] uris);
    /// @notice Emitted when a model's fee changes.
    /// @param modelId the model
    /// @param fee the new fee
    event ModelFeeUpdated(bytes32 indexed modelId, uint96 fee);
    /// @notice Emitted when a model is deprecated (no new jobs).
    /// @param modelId the model
    event ModelDeprecated(bytes32 indexed modelId);
    /// @notice Emitted when the owner starts a transfer.
    /// @param modelId the model
    /// @param owner the current owner
    /// @param pendingOwner the proposed owner
    event ModelTransferStarted(bytes32 indexed modelId, address indexed owner, address indexed pendingOwner);
    /// @notice Emitted when the pending owner accepts.
    /// @param modelId the model
    /// @param previousOwner the old owner
    /// @param newOwner the new owner
    event ModelTransferred(bytes32 indexed modelId, address indexed previousOwner, address indexed newOwner);

    /// @notice Register a model; the caller becomes its owner.
    function registerModel(
        bytes32 _modelId,
        string[] calldata _uris,
        uint96 _fee,
        VerificationClass _vclass,
        bytes32 _graphRoot,
        bytes32 _weightsRoot
    ) external;
    /// @notice Replace the model's URIs (owner only).
    function setURIs(bytes32 _modelId, string[] calldata _uris) external;
    /// @notice Change the per-inference fee (owner only); applies to jobs submitted afterwards.
    function setFee(bytes32 _modelId, uint96 _fee) external;
    /// @notice Deprecate the model (owner only): no new jobs; running jobs complete.
    function deprecate(bytes32 _modelId) external;
    /// @notice Propose a new owner (owner only).
    function transferModel(bytes32 _modelId, address _newOwner) external;
    /// @notice Accept a proposed ownership transfer (pending owner only).
    function acceptModel(bytes32 _modelId) external;

    /// @notice The whole model record; reverts ModelNotRegistered if unknown.
    function getModel(bytes32 _modelId) external view returns (Model memory model_);
    /// @notice What the JobManager needs at submit; reverts ModelNotRegistered if unknown.
    function pricing(bytes32 _modelId) external view returns (address owner_, uint96 fee_, bool deprecated_);
    /// @notice The model's owner; reverts ModelNotRegistered if unknown.
    function ownerOf(bytes32 _modelId) external view returns (address owner_);
    /// @notice The model's verification class; reverts ModelNotRegistered if unknown.
    function verificationClass(bytes32 _modelId) external view returns (VerificationClass vclass_);
    /// @notice Number of registered models.
    function modelCount() external view returns (uint256 count_);
    /// @notice The id of the i-th registered model (registration order).
    function modelIdAt(uint256 _index) external view returns (bytes32 modelId_);
}
