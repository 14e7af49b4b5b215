// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice TEST ONLY: an ERC20 that burns `feeBps` of every transfer between two accounts (the
/// recipient gets less than was sent), as fee-on-transfer tokens do. The fee can be switched on after
/// deployment, as some real tokens allow.
contract FeeOnTransferToken is ERC20 {
    uint256 public feeBps;

    constructor(uint256 _feeBps) ERC20("Fee on transfer", "FOT") {
        feeBps = _feeBps;
    }

    function mint(address _to, uint256 _amount) external {
        _mint(_to, _amount);
    }

    function setFee(uint256 _feeBps) external {
        feeBps = _feeBps;
    }

    function _update(address _from, address _to, uint256 _value) internal override {
        uint256 fee = _from == address(0) || _to == address(0) ? 0 : _value * feeBps / 10_000;
        if (fee != 0) super._update(_from, address(0), fee);
        super._update(_from, _to, _value - fee);
    }
}

/// @notice TEST ONLY: an ERC20 that, while `failing` is set, returns false from transfer and
/// transferFrom without moving anything (instead of reverting), as some old tokens do.
contract FalseReturningToken is ERC20 {
    bool public failing;

    constructor() ERC20("Returns false", "RFALSE") {}

    function mint(address _to, uint256 _amount) external {
        _mint(_to, _amount);
    }

    function setFailing(bool _failing) external {
        failing = _failing;
    }

    function transfer(address _to, uint256 _value) public override returns (bool) {
        if (failing) return false;
        return super.transfer(_to, _value);
    }

    function transferFrom(address _from, address _to, uint256 _value) public override returns (bool) {
        if (failing) return false;
        return super.transferFrom(_from, _to, _value);
    }
}

/// @notice TEST ONLY: a token whose transfer, transferFrom and approve return nothing (like USDT on
/// mainnet); it reverts on failure.
contract NoReturnToken {
    string public constant name = "No return";
    string public constant symbol = "NORET";
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function mint(address _to, uint256 _amount) external {
        totalSupply += _amount;
        balanceOf[_to] += _amount;
        emit Transfer(address(0), _to, _amount);
    }

    function approve(address _spender, uint256 _value) external {
        allowance[msg.sender][_spender] = _value;
        emit Approval(msg.sender, _spender, _value);
    }

    function transfer(address _to, uint256 _value) external {
        _move(msg.sender, _to, _value);
    }

    function transferFrom(address _from, address _to, uint256 _value) external {
        uint256 allowed = allowance[_from][msg.sender];
        require(allowed >= _value, "allowance");
        if (allowed != type(uint256).max) allowance[_from][msg.sender] = allowed - _value;
        _move(_from, _to, _value);
    }

    function _move(address _from, address _to, uint256 _value) private {
        require(balanceOf[_from] >= _value, "balance");
        balanceOf[_from] -= _value;
        balanceOf[_to] += _value;
        emit Transfer(_from, _to, _value);
    }
}

/// @notice The hooks HookToken calls on accounts that registered for them (ERC777-style).
interface ITokenHooks {
    /// @notice Called on the sender before its balance moves.
    function tokensToSend(address _to, uint256 _value) external;
    /// @notice Called on the recipient after its balance moved.
    function tokensReceived(address _from, uint256 _value) external;
}

/// @notice TEST ONLY: an ERC20 with ERC777-style hooks: a registered sender is called *before* its
/// balance moves (so a contract that pulls tokens can be re-entered before it has received them),
/// a registered recipient after.
contract HookToken is ERC20 {
    mapping(address => bool) public hooked;

    constructor() ERC20("Hooked", "HOOK") {}

    function mint(address _to, uint256 _amount) external {
        _mint(_to, _amount);
    }

    /// @notice Ask for hooks on the caller's transfers.
    function register() external {
        hooked[msg.sender] = true;
    }

    function _update(address _from, address _to, uint256 _value) internal override {
        if (hooked[_from]) ITokenHooks(_from).tokensToSend(_to, _value);
        super._update(_from, _to, _value);
        if (hooked[_to]) ITokenHooks(_to).tokensReceived(_from, _value);
    }
}

/// @notice TEST ONLY: an attacker's account (requester, worker or challenger) that runs any call and,
/// when armed, makes one call of its choice from inside a token hook, recording how it ended.
contract HookAttacker is ITokenHooks {
    address public target;
    bytes public payload;
    bool public onSend; // true: fire in tokensToSend (before the move); false: in tokensReceived
    uint256 public attempts;
    bool public lastCallSucceeded;
    bytes public lastRevertData;
    bool private _inside;

    /// @notice Run a call as this account; bubbles a revert up unchanged.
    function exec(address _target, bytes calldata _data) external returns (bytes memory result_) {
        bool ok;
        (ok, result_) = _target.call(_data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result_, 0x20), mload(result_))
            }
        }
    }

    /// @notice Make `_payload` to `_target` from inside the next hook (on send or on receive).
    function arm(address _target, bytes calldata _payload, bool _onSend) external {
        (target, payload, onSend) = (_target, _payload, _onSend);
    }

    function tokensToSend(address, uint256) external {
        if (onSend) _fire();
    }

    function tokensReceived(address, uint256) external {
        if (!onSend) _fire();
    }

    function _fire() private {
        if (target == address(0) || _inside) return;
        _inside = true;
        attempts += 1;
        (bool ok, bytes memory ret) = target.call(payload);
        lastCallSucceeded = ok;
        lastRevertData = ok ? bytes("") : ret;
        target = address(0); // one shot
        _inside = false;
    }
}
